"""Processing each inbound message once, however often its channel delivers it."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from backend.models import InboundMessage, utcnow
from backend.services._insert import insert_ignore


def first_delivery(session: Session, channel: str, external_id: str) -> bool:
    """True the first time (channel, external_id) is seen; False for every redelivery, even concurrent ones."""
    return insert_ignore(
        session,
        InboundMessage.__table__,
        {"channel": channel, "external_id": str(external_id), "received_at": utcnow()},
        conflict_columns=("channel", "external_id"),
    )


def forget_older_than(session: Session, age: timedelta) -> int:
    """Drops delivery records older than any channel retries (Telegram and Twilio retry for hours, not days)."""
    result = session.execute(delete(InboundMessage).where(InboundMessage.received_at < utcnow() - age))
    return result.rowcount or 0
