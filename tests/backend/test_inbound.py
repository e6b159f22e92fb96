from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from backend.db import session_scope
from backend.models import InboundMessage
from backend.services import inbound


def test_a_redelivery_is_recognised(database_url: str) -> None:
    with session_scope(database_url) as session:
        assert inbound.first_delivery(session, "telegram", "1001")
        assert not inbound.first_delivery(session, "telegram", "1001")
        assert inbound.first_delivery(session, "whatsapp", "1001"), "ids are per channel"
    with session_scope(database_url) as session:
        assert not inbound.first_delivery(session, "telegram", "1001"), "remembered across transactions"


def test_concurrent_deliveries_of_one_message_let_exactly_one_through(database_url: str, run_in_threads) -> None:
    def deliver(_: int) -> bool:
        with session_scope(database_url) as session:
            return inbound.first_delivery(session, "telegram", "777")

    assert sorted(run_in_threads(8, deliver)) == [False] * 7 + [True]
    with session_scope(database_url) as session:
        assert session.execute(select(func.count()).select_from(InboundMessage)).scalar_one() == 1


def test_old_delivery_records_are_forgotten(database_url: str) -> None:
    with session_scope(database_url) as session:
        inbound.first_delivery(session, "sms", "SM1")
        assert inbound.forget_older_than(session, timedelta(days=2)) == 0
        assert inbound.forget_older_than(session, timedelta(seconds=-1)) == 1
        assert inbound.first_delivery(session, "sms", "SM1")
