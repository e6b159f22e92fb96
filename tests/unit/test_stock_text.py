from __future__ import annotations

import pytest

from backend.services import stock_text


@pytest.mark.parametrize(
    "message, kind, quantity",
    [
        ("received 50 bags of sugar", "received", 50),
        ("sold 3 pink kid watches", "sold", 3),
        ("set the reorder point of ghee to 5", "reorder", 5),
        ("we counted 12 ghee jars", "counted", 12),
        ("aaj 20 packet doodh aaya", "received", 20),
        ("३ घड़ी बिकी", "sold", 3),
        ("மூணு வாட்ச் வித்துச்சு", "sold", 3),
        ("pachas bori chini aayi", "received", 50),
        ("recibimos cincuenta sacos de azúcar", "received", 50),
        ("received a dozen marie packets", "received", 12),
        ("received 40 bags of basmati rice 5 kg", "received", 40),
    ],
)
def test_stock_messages_are_read_in_every_language(message: str, kind: str, quantity: int) -> None:
    assert (stock_text.movement(message), stock_text.quantity(message)) == (kind, quantity)


def test_locations_and_low_stock_questions() -> None:
    assert stock_text.location("how many basmati at anna nagar") == "ANNA-NAGAR"
    assert stock_text.location("t nagar la 10 packet paal vandhuchu") == "T-NAGAR"
    assert stock_text.location("how many basmati") is None
    assert stock_text.asks_for_low("what is running low?")
    assert stock_text.asks_for_low("क्या कम पड़ रहा है")
    assert not stock_text.asks_for_low("how many basmati bags")
    assert stock_text.quantity("no number here") is None
