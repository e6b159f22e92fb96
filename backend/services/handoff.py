"""Requests to talk to a human agent: at most one open request per user."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.models import HumanRequest, truncate_last_message, utcnow
from backend.services import audit, users
from backend.services._insert import insert_ignore

REASON_MAX = 50


def request_human(
    session: Session,
    *,
    channel: str,
    channel_user_id: str,
    language: Optional[str],
    reason: str,
    last_message: Optional[str],
) -> tuple[HumanRequest, bool]:
    """Open a request for a human, or return the user's open one (``created`` False)."""
    if not reason or len(reason) > REASON_MAX:
        raise ValueError(f"reason must be 1-{REASON_MAX} characters")
    user = users.identify(session, channel, channel_user_id)
    existing = open_request(session, user.id)
    if existing is not None:
        return existing, False
    created = insert_ignore(
        session,
        HumanRequest.__table__,
        {
            "user_id": user.id,
            "channel": channel,
            "channel_user_id": channel_user_id,
            "language": language,
            "reason": reason,
            "last_message": truncate_last_message(last_message),
            "status": "open",
            "created_at": utcnow(),
        },
        conflict_columns=("user_id",),
        conflict_where=text("status = 'open'"),
    )
    request = open_request(session, user.id)
    if request is None:  # pragma: no cover - the partial unique index guarantees a row
        raise RuntimeError(f"open human request for user {user.id} vanished")
    if created:
        audit.record(
            session,
            actor=f"user:{user.id}",
            action="human_request.opened",
            subject_type="human_request",
            subject_id=request.id,
            details={"channel": channel, "reason": reason, "language": language},
        )
    return request, created


def open_request(session: Session, user_id: int) -> Optional[HumanRequest]:
    statement = select(HumanRequest).where(
        HumanRequest.user_id == user_id, HumanRequest.status == "open"
    )
    return session.execute(statement).scalar_one_or_none()
