"""Notifications for web chat users: stored on delivery, fetched by their page (GET /chat/inbox)."""
from __future__ import annotations

from typing import Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import WebInboxMessage, utcnow
from backend.services._insert import insert_ignore

FETCH_LIMIT = 50


def deliver(session: Session, *, address: str, idempotency_key: str, text: str, buttons: Sequence[dict]) -> None:
    """Store a message for the web chat user ``address``; a second delivery of the same key adds nothing."""
    insert_ignore(
        session,
        WebInboxMessage.__table__,
        {
            "address": address,
            "idempotency_key": idempotency_key,
            "text": text,
            "buttons": [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons],
            "created_at": utcnow(),
        },
        conflict_columns=("idempotency_key",),
    )


def fetch(session: Session, address: str, *, after: int = 0, limit: int = FETCH_LIMIT) -> list[WebInboxMessage]:
    """The user's messages with an id above ``after``, oldest first."""
    statement = (
        select(WebInboxMessage)
        .where(WebInboxMessage.address == address, WebInboxMessage.id > after)
        .order_by(WebInboxMessage.id)
        .limit(limit)
    )
    return list(session.execute(statement).scalars())


def latest_id(session: Session, address: str) -> Optional[int]:
    statement = select(WebInboxMessage.id).where(WebInboxMessage.address == address).order_by(WebInboxMessage.id.desc())
    return session.execute(statement.limit(1)).scalar_one_or_none()
