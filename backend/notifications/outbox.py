"""The durable notification outbox: every proactive message is a row written with the change that caused it.

``enqueue`` adds the row in the caller's session, so the message exists exactly when the caller's transaction
commits (a ticket update and its notification are never one without the other). The worker in
:mod:`backend.notifications.worker` delivers it later. Like the other services these functions take an open
session and never commit it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.models import OUTBOX_STATUSES, OutboxMessage, User, utcnow
from backend.services import audit
from backend.services._insert import insert_ignore

KIND_MAX = 50
RESPONSE_MAX = 100
IDEMPOTENCY_KEY_MAX = 255


class OutboxMessageNotFound(LookupError):
    """No outbox message has that id."""


class NotRetryable(ValueError):
    """Only dead messages can be retried."""


def enqueue(
    session: Session,
    *,
    user_id: int,
    response: Optional[str],
    params: Optional[dict[str, Any]] = None,
    idempotency_key: str,
    kind: str,
    text: Optional[str] = None,
) -> OutboxMessage:
    """Queue a message for ``user_id`` in the caller's transaction (flushed, not committed).

    Give either a catalogue ``response`` (with ``params``), rendered in the user's language when it is
    delivered, or a ready ``text``. A second enqueue with the same ``idempotency_key`` (a retried request,
    a re-run job, a concurrent duplicate) adds nothing and returns the existing row.
    """
    if (response is None) == (text is None):
        raise ValueError("give exactly one of response and text")
    if response is not None and not (0 < len(response) <= RESPONSE_MAX):
        raise ValueError(f"response must be 1-{RESPONSE_MAX} characters")
    if text is not None and not text.strip():
        raise ValueError("text must not be empty")
    if params is not None and (response is None or not isinstance(params, dict)):
        raise ValueError("params must be a dict, and only go with a response")
    if not kind or len(kind) > KIND_MAX:
        raise ValueError(f"kind must be 1-{KIND_MAX} characters")
    if not idempotency_key or len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
        raise ValueError(f"idempotency_key must be 1-{IDEMPOTENCY_KEY_MAX} characters")
    if session.get(User, user_id) is None:
        raise ValueError(f"no user with id {user_id}")
    now = utcnow()
    insert_ignore(
        session,
        OutboxMessage.__table__,
        {
            "user_id": user_id,
            "kind": kind,
            "response": response,
            "params": params if response is not None else None,
            "text": text,
            "idempotency_key": idempotency_key,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
        conflict_columns=("idempotency_key",),
    )
    message = find_by_key(session, idempotency_key)
    if message is None:  # pragma: no cover - the unique constraint guarantees a row
        raise RuntimeError(f"outbox message {idempotency_key!r} vanished while being created")
    return message


def find_by_key(session: Session, idempotency_key: str) -> Optional[OutboxMessage]:
    statement = select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
    return session.execute(statement).scalar_one_or_none()


def get_message(session: Session, message_id: int) -> Optional[OutboxMessage]:
    return session.get(OutboxMessage, message_id)


def list_messages(
    session: Session, *, status: Optional[str] = None, limit: int = 100, offset: int = 0
) -> list[OutboxMessage]:
    """Messages in the order they were queued, optionally only those with ``status``."""
    if status is not None and status not in OUTBOX_STATUSES:
        raise ValueError(f"status must be one of {', '.join(OUTBOX_STATUSES)}")
    statement = select(OutboxMessage).order_by(OutboxMessage.id)
    if status is not None:
        statement = statement.where(OutboxMessage.status == status)
    statement = statement.limit(limit).offset(offset)
    return list(session.execute(statement).scalars())


def retry(
    session: Session, message_id: int, *, actor: str, now: Optional[datetime] = None
) -> OutboxMessage:
    """Give a dead message a fresh set of attempts, due at once (``last_error`` is kept until it is sent).

    Raises :class:`OutboxMessageNotFound` or :class:`NotRetryable` (the message is not dead).
    """
    now = now or utcnow()
    table = OutboxMessage.__table__
    changed = session.execute(
        update(table)
        .where(table.c.id == message_id, table.c.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=now, lease_until=None, claim_token=None)
    ).rowcount
    message = session.get(OutboxMessage, message_id, populate_existing=True)
    if message is None:
        raise OutboxMessageNotFound(message_id)
    if not changed:
        raise NotRetryable(f"outbox message {message_id} is {message.status}, not dead")
    audit.record(
        session,
        actor=actor,
        action="outbox.retried",
        subject_type="outbox_message",
        subject_id=message.id,
        details={"kind": message.kind, "last_error": message.last_error},
    )
    return message
