"""Admin API for the notification outbox: see what is pending, sent or dead, and retry dead messages."""
from __future__ import annotations

from datetime import datetime
from typing import Any, List, Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from backend.api.deps import db_session, require_admin
from backend.models import OutboxMessage
from backend.notifications import outbox

router = APIRouter(prefix="/api", tags=["outbox"], dependencies=[Depends(require_admin)])

ADMIN_ACTOR = "admin-api"


class OutboxMessageOut(BaseModel):
    id: int
    user_id: int
    kind: str
    response: Optional[str]
    params: Optional[dict[str, Any]]
    text: Optional[str]
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: Optional[str]
    created_at: datetime
    sent_at: Optional[datetime]
    channel: Optional[str]
    address: Optional[str]

    @classmethod
    def of(cls, message: OutboxMessage) -> "OutboxMessageOut":
        return cls(**{name: getattr(message, name) for name in cls.__fields__})


@router.get("/outbox", response_model=List[OutboxMessageOut])
def list_outbox(
    status: Optional[Literal["pending", "sending", "sent", "dead"]] = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    session: Session = Depends(db_session),
) -> List[OutboxMessageOut]:
    """Outbox messages in the order they were queued; ``status=dead`` lists the dead letters."""
    messages = outbox.list_messages(session, status=status, limit=limit, offset=offset)
    return [OutboxMessageOut.of(message) for message in messages]


@router.post(
    "/outbox/{message_id}/retry",
    response_model=OutboxMessageOut,
    responses={404: {"description": "No such message"}, 409: {"description": "The message is not dead"}},
)
def retry_outbox_message(message_id: int, session: Session = Depends(db_session)) -> OutboxMessageOut:
    """Give a dead message a fresh set of attempts, starting now."""
    try:
        message = outbox.retry(session, message_id, actor=ADMIN_ACTOR)
    except outbox.OutboxMessageNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No outbox message {message_id}.") from None
    except outbox.NotRetryable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Only dead messages can be retried: {exc}.") from None
    return OutboxMessageOut.of(message)
