"""The support-ticket lifecycle: open, comment, resolve, close, reopen, rate; SLA breaches and automatic closing.

Statuses::

    open --agent replies--> in_progress --agent resolves--> resolved --customer closes / N quiet days--> closed
      ^                                                         |                                         |
      '----------- customer reopens, or replies to a resolved ticket ----------------------------------------'

Customers reach only their own tickets: every customer-facing lookup takes the user id, and a number that is
someone else's is reported exactly like a number that does not exist. Every change is audited. Changes the
customer did not make in the conversation themselves (an agent's reply, resolution, closing, automatic
closing), and the receipt of a new ticket, are queued in the notification outbox in the same transaction, so
the customer hears of them on their channel, in their language; the customer's own changes are confirmed in
the conversation itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Optional, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.config import get_settings
from backend.models import (
    TICKET_ACTIVE,
    TICKET_CATEGORIES,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
    Ticket,
    TicketComment,
    User,
    utcnow,
)
from backend.notifications import outbox
from backend.services import audit, ticket_routing, ticket_text
from backend.services.errors import ServiceError

DUPLICATE_WINDOW = timedelta(minutes=10)
REOPEN_WINDOW = timedelta(days=30)
DESCRIPTION_MAX = 4000
DETAILS_MAX = 200
COMMENT_MAX = 4000
RATING_COMMENT_MAX = 2000
DEFAULT_AUTO_CLOSE_DAYS = 3


class TicketError(ServiceError):
    """A change the ticket's status does not allow."""


@dataclass(frozen=True)
class Actor:
    """Who makes a change: ``kind`` customer, agent or system, and a name for the audit log."""

    kind: str
    name: str

    @property
    def audit_name(self) -> str:
        return f"{self.kind}:{self.name}"


SYSTEM = Actor("system", "helpdesk")


def customer(user: User) -> Actor:
    return Actor("customer", str(user.id))


def open_ticket(
    session: Session,
    *,
    user: User,
    channel: str,
    language: Optional[str],
    category: str,
    description: str,
    details: Optional[str] = None,
    now: Optional[datetime] = None,
    notify: bool = True,
) -> tuple[Ticket, bool]:
    """Open a ticket, or return the same complaint opened in the last 10 minutes (``created`` False).
    ``notify`` False skips the receipt, for a ticket the conversation itself announces (a handoff)."""
    now = now or utcnow()
    if category not in TICKET_CATEGORIES:
        raise ValueError(f"category must be one of {', '.join(TICKET_CATEGORIES)}")
    description = (description or "").strip()
    if not description:
        raise ValueError("description must not be empty")
    description = description[:DESCRIPTION_MAX]
    details = (details or "").strip()[:DETAILS_MAX] or None
    _lock_user(session, user.id, now)
    duplicate = _recent_duplicate(session, user.id, category, description, now)
    if duplicate is not None:
        return duplicate, False
    route = ticket_routing.route(category, now, description)
    ticket = Ticket(
        user_id=user.id,
        channel=channel,
        language=language,
        category=category,
        description=description,
        details=details,
        fingerprint=ticket_text.fingerprint(description),
        status="open",
        priority=route.priority,
        team=route.team,
        created_at=now,
        updated_at=now,
        first_response_due=route.first_response_due,
        resolution_due=route.resolution_due,
        last_customer_activity_at=now,
    )
    session.add(ticket)
    session.flush()
    entry = audit.record(
        session,
        actor=customer(user).audit_name,
        action="ticket.opened",
        subject_type="ticket",
        subject_id=ticket.reference,
        details={"category": category, "team": route.team, "priority": route.priority, "channel": channel},
    )
    if notify:
        _notify(
            session, ticket, "utter_notify_ticket_created", entry.id,
            hours=ticket_routing.first_response_hours(ticket.priority),
        )
    return ticket, True


def _lock_user(session: Session, user_id: int, now: datetime) -> None:
    """Serialise ticket creation per user (a row lock on PostgreSQL, the write lock on SQLite)."""
    session.execute(update(User.__table__).where(User.__table__.c.id == user_id).values(updated_at=now))


def _recent_duplicate(
    session: Session, user_id: int, category: str, description: str, now: datetime
) -> Optional[Ticket]:
    statement = (
        select(Ticket)
        .where(
            Ticket.user_id == user_id,
            Ticket.category == category,
            Ticket.status.in_(TICKET_ACTIVE),
            Ticket.created_at >= now - DUPLICATE_WINDOW,
        )
        .order_by(Ticket.id.desc())
    )
    for ticket in session.execute(statement).scalars():
        if ticket.fingerprint == ticket_text.fingerprint(description) or ticket_text.same_complaint(
            ticket.description, description
        ):
            return ticket
    return None


def find_for_user(session: Session, user_id: int, ticket_id: Optional[int]) -> Optional[Ticket]:
    """The user's ticket with that number; None when it does not exist *or* belongs to someone else."""
    if not ticket_id:
        return None
    ticket = session.get(Ticket, ticket_id)
    return ticket if ticket is not None and ticket.user_id == user_id else None


def tickets_of(
    session: Session, user_id: int, statuses: Optional[Sequence[str]] = None, limit: int = 50
) -> list[Ticket]:
    """The user's tickets, newest first."""
    statement = select(Ticket).where(Ticket.user_id == user_id).order_by(Ticket.id.desc()).limit(limit)
    if statuses is not None:
        statement = statement.where(Ticket.status.in_(statuses))
    return list(session.execute(statement).scalars())


# What each customer operation applies to.
CLOSABLE = ("open", "in_progress", "resolved")
COMMENTABLE = ("open", "in_progress", "resolved")
REOPENABLE = ("resolved", "closed")


def reopenable_of(session: Session, user_id: int, now: Optional[datetime] = None) -> list[Ticket]:
    now = now or utcnow()
    return [
        t for t in tickets_of(session, user_id, REOPENABLE)
        if t.status == "resolved" or (t.closed_at is not None and t.closed_at >= now - REOPEN_WINDOW)
    ]


def close(
    session: Session,
    ticket: Ticket,
    actor: Actor,
    now: Optional[datetime] = None,
    *,
    quiet_days: int = DEFAULT_AUTO_CLOSE_DAYS,
) -> Ticket:
    """Close a ticket that is not closed yet; the customer is asked for a rating. ``quiet_days`` is what the
    customer is told when the system closes it."""
    now = now or utcnow()
    if ticket.status == "closed":
        raise TicketError("already_closed", f"{ticket.reference} is already closed")
    previous = ticket.status
    ticket.status, ticket.closed_at, ticket.closed_by, ticket.updated_at = "closed", now, actor.kind, now
    if ticket.resolved_at is None:
        ticket.resolved_at = now
    entry = _audit_status(session, ticket, actor, previous)
    if actor.kind == "agent":
        _notify(session, ticket, "utter_notify_ticket_closed", entry.id)
    elif actor.kind == "system":
        _notify(session, ticket, "utter_notify_ticket_auto_closed", entry.id, days=quiet_days)
    return ticket


def reopen(session: Session, ticket: Ticket, actor: Actor, now: Optional[datetime] = None) -> Ticket:
    """Reopen a resolved ticket, or a closed one within 30 days of closing; its SLA clock starts again."""
    now = now or utcnow()
    if ticket.status not in REOPENABLE:
        raise TicketError("not_closed", f"{ticket.reference} is {ticket.status}, not resolved or closed")
    if ticket.status == "closed" and (ticket.closed_at is None or ticket.closed_at < now - REOPEN_WINDOW):
        raise TicketError("too_old", f"{ticket.reference} was closed more than 30 days ago")
    previous = ticket.status
    route = ticket_routing.route(ticket.category, now)
    ticket.status, ticket.updated_at = "open", now
    ticket.resolved_at = ticket.closed_at = ticket.closed_by = None
    ticket.rating = ticket.rating_comment = ticket.rated_at = None
    ticket.resolution_due, ticket.resolution_breached_at = route.resolution_due, None
    ticket.reopen_count += 1
    if actor.kind == "customer":
        ticket.last_customer_activity_at = now
    entry = _audit_status(session, ticket, actor, previous)
    if actor.kind != "customer":
        _notify(session, ticket, "utter_notify_ticket_reopened", entry.id)
    return ticket


def resolve(
    session: Session,
    ticket: Ticket,
    actor: Actor,
    now: Optional[datetime] = None,
    *,
    quiet_days: Optional[int] = None,
) -> Ticket:
    """An agent marks the problem solved; it closes itself after ``quiet_days`` (TICKET_AUTO_CLOSE_DAYS)."""
    now = now or utcnow()
    if ticket.status not in ("open", "in_progress"):
        raise TicketError("not_open", f"{ticket.reference} is {ticket.status}")
    previous = ticket.status
    ticket.status, ticket.resolved_at, ticket.updated_at = "resolved", now, now
    _first_response(ticket, actor, now)
    entry = _audit_status(session, ticket, actor, previous)
    if quiet_days is None:
        quiet_days = get_settings().ticket_auto_close_days
    _notify(session, ticket, "utter_notify_ticket_resolved", entry.id, days=quiet_days)
    return ticket


def start_progress(session: Session, ticket: Ticket, actor: Actor, now: Optional[datetime] = None) -> Ticket:
    now = now or utcnow()
    if ticket.status != "open":
        raise TicketError("not_open", f"{ticket.reference} is {ticket.status}, not open")
    ticket.status, ticket.updated_at = "in_progress", now
    _first_response(ticket, actor, now)
    entry = _audit_status(session, ticket, actor, "open")
    _notify(session, ticket, "utter_notify_ticket_in_progress", entry.id)
    return ticket


def record_first_response(session: Session, ticket: Ticket, actor: Actor, now: Optional[datetime] = None) -> None:
    """An agent answered the customer in the chat itself: the ticket counts as responded to (an open one moves
    to in progress), with no notification, since the customer has the answer already."""
    now = now or utcnow()
    _first_response(ticket, actor, now)
    if ticket.status == "open":
        ticket.status, ticket.updated_at = "in_progress", now
        _audit_status(session, ticket, actor, "open")


def add_comment(
    session: Session,
    ticket: Ticket,
    actor: Actor,
    body: str,
    *,
    internal: bool = False,
    now: Optional[datetime] = None,
) -> TicketComment:
    """Add a comment. A customer's comment on a resolved ticket reopens it; an agent's public comment is
    their first response (an open ticket moves to in progress) and is sent to the customer."""
    now = now or utcnow()
    body = (body or "").strip()
    if not body:
        raise ValueError("comment must not be empty")
    if len(body) > COMMENT_MAX:
        raise ValueError(f"comment must be at most {COMMENT_MAX} characters")
    if ticket.status == "closed":
        raise TicketError("closed", f"{ticket.reference} is closed")
    if actor.kind == "customer" and internal:
        raise ValueError("customers cannot write internal notes")
    comment = TicketComment(
        ticket_id=ticket.id, author_type=actor.kind, author=actor.name[:200], body=body, internal=internal,
        created_at=now,
    )
    session.add(comment)
    ticket.updated_at = now
    session.flush()
    entry = audit.record(
        session, actor=actor.audit_name, action="ticket.commented", subject_type="ticket",
        subject_id=ticket.reference, details={"comment_id": comment.id, "internal": internal},
    )
    if actor.kind == "customer":
        ticket.last_customer_activity_at = now
        if ticket.status == "resolved":
            reopen(session, ticket, actor, now)
    elif actor.kind == "agent" and not internal:
        if ticket.status == "open":
            start_progress(session, ticket, actor, now)
        else:
            _first_response(ticket, actor, now)
        _notify(session, ticket, "utter_notify_ticket_comment", entry.id, comment=body)
    return comment


def rate(
    session: Session, ticket: Ticket, rating: int, comment: Optional[str] = None, now: Optional[datetime] = None
) -> Ticket:
    """Record the customer's 1-5 rating of a closed ticket (a second rating replaces the first)."""
    now = now or utcnow()
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValueError("rating must be a whole number from 1 to 5")
    if ticket.status != "closed":
        raise TicketError("not_closed", f"{ticket.reference} is not closed yet")
    ticket.rating, ticket.rated_at = rating, now
    if comment is not None:
        ticket.rating_comment = comment.strip()[:RATING_COMMENT_MAX] or None
    audit.record(
        session, actor=f"user:{ticket.user_id}", action="ticket.rated", subject_type="ticket",
        subject_id=ticket.reference, details={"rating": rating},
    )
    return ticket


def update_for_agent(
    session: Session,
    ticket: Ticket,
    actor: Actor,
    *,
    status: Optional[str] = None,
    priority: Optional[str] = None,
    team: Optional[str] = None,
    assignee: Optional[str] = None,
    now: Optional[datetime] = None,
) -> Ticket:
    """What the agent API may change: status (through the lifecycle above), priority, team, assignee."""
    now = now or utcnow()
    if priority is not None:
        if priority not in TICKET_PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(TICKET_PRIORITIES)}")
        ticket.priority = priority
    if team is not None:
        if not team.strip() or len(team) > 50:
            raise ValueError("team must be 1-50 characters")
        ticket.team = team.strip()
    if assignee is not None:
        ticket.assignee = assignee.strip()[:200] or None
    if priority is not None or team is not None or assignee is not None:
        ticket.updated_at = now
        audit.record(
            session, actor=actor.audit_name, action="ticket.updated", subject_type="ticket",
            subject_id=ticket.reference,
            details={k: v for k, v in (("priority", priority), ("team", team), ("assignee", assignee)) if v is not None},
        )
    if status is not None and status != ticket.status:
        if status not in TICKET_STATUSES:
            raise ValueError(f"status must be one of {', '.join(TICKET_STATUSES)}")
        transition = {"in_progress": start_progress, "resolved": resolve, "closed": close, "open": reopen}[status]
        transition(session, ticket, actor, now)
    return ticket


def breach_sla(session: Session, now: Optional[datetime] = None) -> list[Ticket]:
    """Mark tickets past a first-response or resolution due time as breached and escalate them one priority
    up, once per breach. Safe to run from several workers: each breach is claimed with a conditional update."""
    now = now or utcnow()
    table = Ticket.__table__
    breached: list[Ticket] = []
    for column, due, action in (
        (table.c.first_response_breached_at, table.c.first_response_due, "first_response"),
        (table.c.resolution_breached_at, table.c.resolution_due, "resolution"),
    ):
        conditions = [table.c.status.in_(("open", "in_progress")), column.is_(None), due < now]
        if action == "first_response":
            conditions.append(table.c.first_response_at.is_(None))
        candidates = session.execute(select(table.c.id).where(*conditions).order_by(table.c.id)).scalars().all()
        for ticket_id in candidates:
            claimed = session.execute(
                update(table).where(table.c.id == ticket_id, column.is_(None)).values({column: now})
            ).rowcount
            if not claimed:
                continue
            ticket = session.get(Ticket, ticket_id, populate_existing=True)
            previous = ticket.priority
            ticket.priority = ticket_routing.escalated(previous)
            ticket.escalation_level += 1
            audit.record(
                session, actor=SYSTEM.audit_name, action="ticket.sla_breached", subject_type="ticket",
                subject_id=ticket.reference,
                details={"target": action, "priority": [previous, ticket.priority], "team": ticket.team},
            )
            breached.append(ticket)
    session.flush()
    return breached


def auto_close(
    session: Session, *, quiet_days: int = DEFAULT_AUTO_CLOSE_DAYS, now: Optional[datetime] = None
) -> list[Ticket]:
    """Close resolved tickets whose customer has not written for ``quiet_days`` since the resolution."""
    now = now or utcnow()
    cutoff = now - timedelta(days=quiet_days)
    statement = (
        select(Ticket)
        .where(Ticket.status == "resolved", Ticket.resolved_at <= cutoff, Ticket.last_customer_activity_at <= cutoff)
        .order_by(Ticket.id)
    )
    closed = []
    for ticket in session.execute(statement).scalars().all():
        claimed = session.execute(
            update(Ticket.__table__)
            .where(Ticket.__table__.c.id == ticket.id, Ticket.__table__.c.status == "resolved")
            .values(updated_at=now)
        ).rowcount
        if not claimed:
            continue
        session.refresh(ticket)
        closed.append(close(session, ticket, SYSTEM, now, quiet_days=quiet_days))
    return closed


def search(
    session: Session,
    *,
    statuses: Optional[Iterable[str]] = None,
    team: Optional[str] = None,
    priority: Optional[str] = None,
    category: Optional[str] = None,
    user_id: Optional[int] = None,
    breached: Optional[bool] = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Ticket]:
    """Tickets for agents and admins, oldest first."""
    statement = select(Ticket).order_by(Ticket.id)
    if statuses:
        statement = statement.where(Ticket.status.in_(list(statuses)))
    if team:
        statement = statement.where(Ticket.team == team)
    if priority:
        statement = statement.where(Ticket.priority == priority)
    if category:
        statement = statement.where(Ticket.category == category)
    if user_id is not None:
        statement = statement.where(Ticket.user_id == user_id)
    if breached is not None:
        any_breach = (Ticket.first_response_breached_at.isnot(None)) | (Ticket.resolution_breached_at.isnot(None))
        statement = statement.where(any_breach if breached else ~any_breach)
    return list(session.execute(statement.limit(limit).offset(offset)).scalars())


def _first_response(ticket: Ticket, actor: Actor, now: datetime) -> None:
    if actor.kind == "agent" and ticket.first_response_at is None:
        ticket.first_response_at = now


def _audit_status(session: Session, ticket: Ticket, actor: Actor, previous: str):
    return audit.record(
        session, actor=actor.audit_name, action=f"ticket.{ticket.status}", subject_type="ticket",
        subject_id=ticket.reference, details={"from": previous, "to": ticket.status},
    )


def _notify(session: Session, ticket: Ticket, response: str, audit_id: int, **params) -> None:
    outbox.enqueue(
        session,
        user_id=ticket.user_id,
        response=response,
        params={"reference": ticket.reference, **params},
        idempotency_key=f"ticket:{ticket.id}:{response}:{audit_id}",
        kind="ticket",
    )
