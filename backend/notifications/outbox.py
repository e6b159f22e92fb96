"""The durable notification outbox: every proactive message is a row written with the change that caused it.

``enqueue`` adds the row in the caller's session, so the message exists exactly when the caller's transaction
commits (a ticket update and its notification are never one without the other). The worker in
:mod:`backend.notifications.worker` delivers it later; except that ``deliver_to_web_chat`` delivers a ready
text for a web chat user at once, in the same transaction, since there a delivery is one more row in the
database. Like the other services these functions take an open session and never commit it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.models import OUTBOX_STATUSES, OUTBOX_UNFINISHED, OutboxMessage, User, utcnow
from backend.services import audit, users, web_inbox
from backend.services._insert import insert_ignore

WEB_CHAT = "rest"  # the web chat's channel: its sender stores messages in the web inbox (connectors/senders)
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


def deliver_to_web_chat(session: Session, message: OutboxMessage, now: Optional[datetime] = None) -> bool:
    """Deliver a queued ready text now, in the caller's transaction, when its recipient is on the web chat: store
    it in their web inbox, as the web chat's sender would, and mark it sent. Delivery and the change that caused
    it then commit together, once, or not at all, and there is nothing left to retry.

    Only when the worker would pick the web chat too (the identity the user wrote from last) and nothing queued
    before it for the user is still unfinished (their messages keep their order); otherwise, and for catalogue
    responses (rendered at delivery), it returns False and the worker delivers the message as usual.
    """
    now = now or utcnow()
    if message.status != "pending" or message.text is None:
        return False
    identity = users.latest_identity(session, message.user_id)
    if identity is None or identity.channel != WEB_CHAT or _queued_before(session, message):
        return False
    table = OutboxMessage.__table__
    sent = session.execute(
        update(table)
        .where(table.c.id == message.id, table.c.status == "pending")
        .values(status="sent", attempts=table.c.attempts + 1, sent_at=now, channel=identity.channel,
                address=identity.channel_user_id)
    ).rowcount
    if not sent:
        return False
    web_inbox.deliver(session, address=identity.channel_user_id, idempotency_key=message.idempotency_key,
                      text=message.text, buttons=[])
    session.refresh(message)
    return True


def _queued_before(session: Session, message: OutboxMessage) -> bool:
    statement = select(OutboxMessage.id).where(
        OutboxMessage.user_id == message.user_id,
        OutboxMessage.id < message.id,
        OutboxMessage.status.in_(OUTBOX_UNFINISHED),
    )
    return session.execute(statement.limit(1)).first() is not None


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
