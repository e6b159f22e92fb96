from __future__ import annotations

import pytest

from backend.services import ticket_text


@pytest.mark.parametrize(
    "text, number",
    [
        ("status of T-000123 please", 123),
        ("t123", 123),
        ("what about T 45?", 45),
        ("ticket 88 kya hua", 88),
        ("ticket no. 12", 12),
        ("टिकट ४२ का क्या हुआ", 42),
        ("டிக்கெட் ௪௨ என்ன ஆச்சு", 42),
        ("/close_ticket", None),
        ("my order SO-482913 never came", None),
        ("it costs 500", None),
        ("T-000000", None),
        ("", None),
        (None, None),
    ],
)
def test_ticket_numbers_are_found_as_users_write_them(text, number) -> None:
    assert ticket_text.parse_reference(text) == number


@pytest.mark.parametrize(
    "text, category",
    [
        ("delivery", "delivery"),
        ("Payment", "payment"),
        ("3", "product"),
        ("५", "device"),
        ("my kid watch", "device"),
        ("डिलीवरी", "delivery"),
        ("பேமெண்ட்", "payment"),
        ("டெலிவரியில் பிரச்சனை", "delivery"),
        ("el reloj", "device"),
        ("kuch aur", "other"),
        ("something else", "other"),
        ("the parcel arrived damaged", None),  # delivery or product: ask
        ("blah", None),
        ("7", None),
        ("", None),
    ],
)
def test_categories_are_read_in_every_language(text, category) -> None:
    assert ticket_text.parse_category(text) == category


def test_the_same_complaint_is_recognised_and_a_different_one_is_not() -> None:
    assert ticket_text.same_complaint("My parcel never arrived!", "my parcel never arrived at all")
    assert ticket_text.same_complaint("मेरा पार्सल नहीं आया", "मेरा पार्सल अभी तक नहीं आया")
    assert not ticket_text.same_complaint("my parcel never arrived", "my parcel arrived damaged")
    assert not ticket_text.same_complaint("", "anything")
    assert ticket_text.fingerprint("Parcel  LATE!") == ticket_text.fingerprint("parcel late")
