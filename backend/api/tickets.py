"""Agent API for tickets: list and filter, read with comments, update through the lifecycle, comment.

Authenticated with an agent's or the admin's ``X-API-Key``; the caller is the actor of every change.
"""
from __future__ import annotations

from datetime import datetime
from typing import List, Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field, StrictBool, StrictStr
from sqlalchemy.orm import Session

from backend.api.deps import Staff, db_session, require_staff
from backend.models import Ticket, TicketComment
from backend.services import ticket_text, tickets

router = APIRouter(prefix="/api/tickets", tags=["tickets"])

Status = Literal["open", "in_progress", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Category = Literal["delivery", "payment", "product", "account", "device", "other"]


class CommentOut(BaseModel):
    id: int
    author_type: str
    author: str
    body: str
    internal: bool
    created_at: datetime

    @classmethod
    def of(cls, comment: TicketComment) -> "CommentOut":
        return cls(**{name: getattr(comment, name) for name in cls.__fields__})


class TicketOut(BaseModel):
    reference: str
    user_id: int
    channel: str
    language: Optional[str]
    category: str
    description: str
    details: Optional[str]
    status: str
    priority: str
    team: str
    assignee: Optional[str]
    escalation_level: int
    reopen_count: int
    created_at: datetime
    updated_at: datetime
    first_response_due: datetime
    resolution_due: datetime
    first_response_at: Optional[datetime]
    first_response_breached_at: Optional[datetime]
    resolution_breached_at: Optional[datetime]
    resolved_at: Optional[datetime]
    closed_at: Optional[datetime]
    closed_by: Optional[str]
    rating: Optional[int]
    rating_comment: Optional[str]

    @classmethod
    def of(cls, ticket: Ticket) -> "TicketOut":
        return cls(**{name: getattr(ticket, name) for name in cls.__fields__})


class TicketDetailOut(TicketOut):
    comments: List[CommentOut]

    @classmethod
    def of(cls, ticket: Ticket) -> "TicketDetailOut":
        base = TicketOut.of(ticket).dict()
        return cls(**base, comments=[CommentOut.of(c) for c in ticket.comments])


class TicketUpdate(BaseModel):
    status: Optional[Status] = None
    priority: Optional[Priority] = None
    team: Optional[StrictStr] = Field(None, min_length=1, max_length=50)
    assignee: Optional[StrictStr] = Field(None, max_length=200)


class CommentIn(BaseModel):
    body: StrictStr = Field(..., min_length=1, max_length=tickets.COMMENT_MAX)
    internal: StrictBool = False


def _ticket(session: Session, reference: str) -> Ticket:
    ticket_id = ticket_text.parse_reference(reference) or (int(reference) if reference.isdigit() else None)
    ticket = session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No ticket {reference}.")
    return ticket


def _actor(staff: Staff) -> tickets.Actor:
    # Admins act as agents on tickets (their replies are first responses too), under their own name.
    return tickets.Actor("agent", f"{staff.kind}:{staff.name}" if staff.kind == "admin" else staff.name)


@router.get("", response_model=List[TicketOut])
def list_tickets(
    status_: Optional[List[Status]] = Query(None, alias="status"),
    team: Optional[str] = Query(None, max_length=50),
    priority: Optional[Priority] = Query(None),
    category: Optional[Category] = Query(None),
    breached: Optional[bool] = Query(None, description="only tickets that missed (true) or kept (false) their SLA"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    staff: Staff = Depends(require_staff),
    session: Session = Depends(db_session),
) -> List[TicketOut]:
    """Tickets, oldest first, filtered by any of status (repeatable), team, priority, category, SLA breach."""
    found = tickets.search(
        session, statuses=status_, team=team, priority=priority, category=category, breached=breached,
        limit=limit, offset=offset,
    )
    return [TicketOut.of(t) for t in found]


@router.get("/{reference}", response_model=TicketDetailOut, responses={404: {"description": "No such ticket"}})
def get_ticket(
    reference: str, staff: Staff = Depends(require_staff), session: Session = Depends(db_session)
) -> TicketDetailOut:
    """One ticket (``T-000123`` or ``123``) with all its comments, internal notes included."""
    return TicketDetailOut.of(_ticket(session, reference))


@router.patch(
    "/{reference}",
    response_model=TicketDetailOut,
    responses={404: {"description": "No such ticket"}, 409: {"description": "The status does not allow it"}},
)
def update_ticket(
    reference: str,
    body: TicketUpdate,
    staff: Staff = Depends(require_staff),
    session: Session = Depends(db_session),
) -> TicketDetailOut:
    """Change status (open → in_progress → resolved → closed, or reopen), priority, team or assignee.
    The customer is notified of status changes on their channel, in their language."""
    ticket = _ticket(session, reference)
    try:
        tickets.update_for_agent(
            session, ticket, _actor(staff), status=body.status, priority=body.priority, team=body.team,
            assignee=body.assignee,
        )
    except tickets.TicketError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return TicketDetailOut.of(ticket)


@router.post(
    "/{reference}/comments",
    response_model=CommentOut,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "No such ticket"}, 409: {"description": "The ticket is closed"}},
)
def add_comment(
    reference: str,
    body: CommentIn,
    staff: Staff = Depends(require_staff),
    session: Session = Depends(db_session),
) -> CommentOut:
    """A reply to the customer (sent to them, and the first response if it is one) or an internal note."""
    ticket = _ticket(session, reference)
    try:
        comment = tickets.add_comment(session, ticket, _actor(staff), body.body, internal=body.internal)
    except tickets.TicketError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    return CommentOut.of(comment)


@router.get("/{reference}/comments", response_model=List[CommentOut], responses={404: {"description": "No such ticket"}})
def list_comments(
    reference: str, staff: Staff = Depends(require_staff), session: Session = Depends(db_session)
) -> List[CommentOut]:
    return [CommentOut.of(c) for c in _ticket(session, reference).comments]
