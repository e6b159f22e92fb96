"""Human handoff: a conversation the bot cannot finish goes to a person, and comes back.

A handoff is a ``HumanRequest`` (reference ``H-000123``), at most one open per customer. While it is open the
conversation is in *agent mode*: each customer message is recorded here instead of the bot answering, by the
web chat itself before any Rasa turn (``backend/api/webchat.py``), and on the other channels by
``action_relay_to_agent``, which the Rasa policy ``bot.policies.HandoffPolicy`` runs when it sees the open
request. Lifecycle::

    escalate --> waiting (open, no agent) --take--> with an agent --return_to_bot--> ended "returned"
                    ^                                  |  |---------close--------> ended "closed" (ticket closed, CSAT)
                    '------------ transfer to a team --'  '--transfer to an agent--> with that agent

Every handoff is linked to a ticket (the customer's open one, or a new one carrying the conversation so far)
and queued for the ticket's team. Each step writes a :class:`HandoffMessage` (customer message, agent reply,
note, or system event); their ids are the console's live feed. What the customer must hear (an agent joined,
a reply, the bot is back) goes through the notification outbox in the same transaction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Callable, Optional

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from backend.models import (
    TICKET_ACTIVE,
    Agent,
    HandoffMessage,
    HumanRequest,
    Ticket,
    User,
    truncate_last_message,
    utcnow,
)
from backend.notifications import outbox
from backend.services import agents as agent_accounts
from backend.services import audit, tickets, users
from backend.services._insert import insert_ignore
from backend.services.errors import ServiceError
from backend.services.office_hours import OfficeHours

REASONS = ("asked", "fallback", "not_helped", "urgent")
REASON_MAX = 50
MESSAGE_MAX = 4000
TRANSCRIPT_MAX = 3000
DEFAULT_HANDLING = timedelta(minutes=5)  # per chat, until the team has a week of its own history
HISTORY_WINDOW = timedelta(days=7)

# (text, source language, target language) -> translation, or None when none can be had.
Translate = Callable[[str, str, str], Optional[str]]


class HandoffError(ServiceError):
    """A step the handoff's state does not allow."""


@dataclass(frozen=True)
class Escalation:
    request: HumanRequest
    created: bool
    position: int  # place in the team's queue, 1 = next; 0 once an agent has it
    wait_minutes: int
    opens_at: Optional[datetime]  # set when nobody is there now: when someone will be


def escalate(
    session: Session,
    *,
    channel: str,
    channel_user_id: str,
    sender_id: str,
    language: Optional[str],
    reason: str,
    last_message: Optional[str],
    transcript: str = "",
    ticket_id: Optional[int] = None,
    hours: Optional[OfficeHours] = None,
    now: Optional[datetime] = None,
) -> Escalation:
    """Put the conversation in agent mode, queued for a team; or return the customer's open handoff."""
    now = now or utcnow()
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(REASONS)}")
    user = users.identify(session, channel, channel_user_id)
    existing = open_request(session, user.id)
    if existing is not None:
        return _escalation(session, existing, False, hours, now)
    ticket = _ticket_for(session, user, channel, language, ticket_id, transcript or last_message or "", now)
    created = insert_ignore(
        session,
        HumanRequest.__table__,
        {
            "user_id": user.id,
            "channel": channel,
            "channel_user_id": channel_user_id,
            "sender_id": sender_id,
            "language": language,
            "reason": reason,
            "last_message": truncate_last_message(last_message),
            "status": "open",
            "team": ticket.team,
            "ticket_id": ticket.id,
            "created_at": now,
            "queued_at": now,
        },
        conflict_columns=("user_id",),
        conflict_where=text("status = 'open'"),
    )
    request = open_request(session, user.id)
    if request is None:  # pragma: no cover - the partial unique index guarantees a row
        raise RuntimeError(f"open human request for user {user.id} vanished")
    if created:
        _event(session, request, f"Waiting for {request.team} ({reason}); ticket {ticket.reference}", now)
        audit.record(
            session, actor=f"user:{user.id}", action="human_request.opened", subject_type="human_request",
            subject_id=request.id,
            details={"channel": channel, "reason": reason, "language": language, "team": request.team,
                     "ticket": ticket.reference},
        )
    return _escalation(session, request, created, hours, now)


def _ticket_for(
    session: Session, user: User, channel: str, language: Optional[str], ticket_id: Optional[int],
    transcript: str, now: datetime,
) -> Ticket:
    """The ticket named, else the customer's most recent active one, else a new one with the conversation."""
    ticket = tickets.find_for_user(session, user.id, ticket_id) if ticket_id else None
    if ticket is None:
        active = tickets.tickets_of(session, user.id, TICKET_ACTIVE, limit=1)
        ticket = active[0] if active else None
    if ticket is None:
        description = "Chat handed to a person. The conversation so far:\n" + (transcript.strip() or "(no messages)")
        ticket, _ = tickets.open_ticket(
            session, user=user, channel=channel, language=language, category="other",
            description=description[-TRANSCRIPT_MAX:], now=now, notify=False,
        )
    return ticket


def _escalation(
    session: Session, request: HumanRequest, created: bool, hours: Optional[OfficeHours], now: datetime
) -> Escalation:
    position = queue_position(session, request)
    opens_at = None if hours is None or hours.is_open(now) else hours.next_opening(now)
    return Escalation(request, created, position, expected_wait_minutes(session, request.team, position, now),
                      opens_at)


def open_request(session: Session, user_id: int) -> Optional[HumanRequest]:
    statement = select(HumanRequest).where(HumanRequest.user_id == user_id, HumanRequest.status == "open")
    return session.execute(statement).scalar_one_or_none()


def open_for_sender(session: Session, sender_id: str) -> Optional[HumanRequest]:
    """The open handoff of a Rasa conversation: while there is one, the bot stays quiet."""
    statement = select(HumanRequest).where(HumanRequest.sender_id == sender_id, HumanRequest.status == "open")
    return session.execute(statement.order_by(HumanRequest.id.desc()).limit(1)).scalar_one_or_none()


def queue_position(session: Session, request: HumanRequest) -> int:
    """1 for the next chat its team will take; 0 when an agent has it already."""
    if not request.waiting:
        return 0
    ahead = session.execute(
        select(func.count(HumanRequest.id)).where(
            HumanRequest.status == "open",
            HumanRequest.agent_id.is_(None),
            HumanRequest.team == request.team,
            HumanRequest.queued_at <= request.queued_at,
            HumanRequest.id != request.id,
        )
    ).scalar_one()
    return ahead + 1


def expected_wait_minutes(session: Session, team: str, position: int, now: Optional[datetime] = None) -> int:
    """``position`` chats, each taking the team's median handling time of the last 7 days, shared among the
    team's agents; at least one minute."""
    if position <= 0:
        return 0
    now = now or utcnow()
    rows = session.execute(
        select(HumanRequest.taken_at, HumanRequest.ended_at).where(
            HumanRequest.team == team, HumanRequest.ended_at >= now - HISTORY_WINDOW,
            HumanRequest.taken_at.isnot(None),
        )
    ).all()
    durations = [(ended - taken).total_seconds() for taken, ended in rows if ended > taken]
    handling = median(durations) if durations else DEFAULT_HANDLING.total_seconds()
    people = max(1, len(agent_accounts.team_agents(session, team)))
    return max(1, math.ceil(position * handling / people / 60))


def relay_customer_message(
    session: Session,
    *,
    sender_id: str,
    text: str,
    language: Optional[str],
    external_id: Optional[str] = None,
    now: Optional[datetime] = None,
) -> Optional[HandoffMessage]:
    """Record a customer message for the agent; None when the conversation is no longer in agent mode.
    ``language`` None: the chat's. The same ``external_id`` (the Rasa message id; the web chat gives the messages
    it relays itself one of its own) twice records it once."""
    now = now or utcnow()
    request = open_for_sender(session, sender_id)
    if request is None:
        return None
    body = (text or "").strip()[:MESSAGE_MAX] or "(empty message)"
    if external_id:
        existing = session.execute(
            select(HandoffMessage).where(HandoffMessage.external_id == external_id[:128])
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    if not _note_last_message(session, request, body):
        return None  # the agent ended the chat since the lookup
    message = HandoffMessage(
        request_id=request.id, kind="customer", text=body, language=language or request.language,
        external_id=external_id[:128] if external_id else None, created_at=now,
    )
    session.add(message)
    if request.ticket is not None:
        request.ticket.last_customer_activity_at = now
    session.flush()
    return message


def _note_last_message(session: Session, request: HumanRequest, body: str) -> bool:
    """Set the handoff's last message if it is still open. One conditional UPDATE, so a customer message and an
    agent ending the chat cannot interleave: the message lands before the end or not at all."""
    noted = session.execute(
        update(HumanRequest)
        .where(HumanRequest.id == request.id, HumanRequest.status == "open")
        .values(last_message=truncate_last_message(body))
        .execution_options(synchronize_session="evaluate")
    ).rowcount
    return bool(noted)


# --- what agents do ------------------------------------------------------------------------------------------


def visible(session: Session, agent: Agent, request_id: int) -> HumanRequest:
    """The handoff, when the agent may see it; the same error for one that does not exist and one of a team
    the agent is not in, so ids of other teams' chats cannot be probed."""
    request = session.get(HumanRequest, request_id)
    if request is None or request.sender_id is None or not agent_accounts.can_see(agent, request.team):
        raise HandoffError("not_found", f"no chat {request_id}")
    return request


def queue(session: Session, agent: Agent) -> list[HumanRequest]:
    """Open handoffs of the agent's teams: waiting ones (oldest first) and the agent's own."""
    statement = (
        select(HumanRequest)
        .where(HumanRequest.status == "open", HumanRequest.sender_id.isnot(None))
        .order_by(HumanRequest.queued_at, HumanRequest.id)
    )
    if not agent.is_admin:
        statement = statement.where(HumanRequest.team.in_(agent.team_names))
    return list(session.execute(statement).scalars())


def take(session: Session, request_id: int, agent: Agent, now: Optional[datetime] = None) -> HumanRequest:
    """Give a waiting chat to ``agent``. One conditional UPDATE decides: of two agents taking the same chat at
    the same moment exactly one gets it; the other gets ``HandoffError("taken")``."""
    now = now or utcnow()
    request = visible(session, agent, request_id)
    table = HumanRequest.__table__
    won = session.execute(
        update(table)
        .where(table.c.id == request.id, table.c.status == "open", table.c.agent_id.is_(None))
        .values(agent_id=agent.id, taken_at=now)
    ).rowcount
    session.refresh(request)
    if not won:
        if request.status != "open":
            raise HandoffError("ended", f"{request.reference} has ended")
        raise HandoffError("taken", f"{request.reference} is being handled by someone else")
    if request.ticket is not None:
        request.ticket.assignee = agent.username
    _event(session, request, f"{agent.display_name} took the chat", now)
    _audit(session, request, agent, "taken")
    _notify(session, request, "utter_handoff_agent_joined", f"joined:{request.id}:{now.timestamp()}",
            agent_name=agent.display_name)
    return request


def _holding(session: Session, request_id: int, agent: Agent) -> HumanRequest:
    request = visible(session, agent, request_id)
    if request.status != "open":
        raise HandoffError("ended", f"{request.reference} has ended")
    if request.agent_id != agent.id:
        raise HandoffError("not_yours", f"take {request.reference} before acting on it")
    return request


def reply(
    session: Session, request_id: int, agent: Agent, body: str, translate: Translate,
    now: Optional[datetime] = None,
) -> HandoffMessage:
    """Send the agent's words to the customer, in the customer's language when a translation can be had, else
    as written. The original is kept beside what was sent."""
    now = now or utcnow()
    body = _body(body)
    request = _holding(session, request_id, agent)
    target = request.language or agent.language
    translated = translate(body, agent.language, target) if target != agent.language else None
    message = HandoffMessage(
        request_id=request.id, kind="agent", author=agent.display_name, text=body, language=agent.language,
        translation=translated, translation_language=target if translated else None, created_at=now,
    )
    session.add(message)
    session.flush()
    if request.first_response_at is None:
        request.first_response_at = now
    if request.ticket is not None:
        tickets.record_first_response(session, request.ticket, tickets.Actor("agent", agent.username), now)
    queued = outbox.enqueue(
        session, user_id=request.user_id, response=None, text=translated or body,
        idempotency_key=f"handoff:{request.id}:reply:{message.id}", kind="handoff",
    )
    outbox.deliver_to_web_chat(session, queued)  # a web chat has it when this commits; other channels: the worker
    return message


def note(session: Session, request_id: int, agent: Agent, body: str, now: Optional[datetime] = None) -> HandoffMessage:
    """An internal note: kept with the chat and on its ticket, never sent to the customer."""
    now = now or utcnow()
    body = _body(body)
    request = visible(session, agent, request_id)
    message = HandoffMessage(request_id=request.id, kind="note", author=agent.display_name, text=body,
                             language=agent.language, created_at=now)
    session.add(message)
    if request.ticket is not None and request.ticket.status != "closed":
        tickets.add_comment(session, request.ticket, tickets.Actor("agent", agent.username), body, internal=True,
                            now=now)
    session.flush()
    return message


def transfer(
    session: Session, request_id: int, agent: Agent, *, team: Optional[str] = None,
    to_username: Optional[str] = None, now: Optional[datetime] = None,
) -> HumanRequest:
    """Pass the chat to another team's queue, or straight to another agent (who must be in its team)."""
    now = now or utcnow()
    request = _holding(session, request_id, agent)
    if to_username:
        target = agent_accounts.find(session, to_username)
        if target is None or not target.active or not agent_accounts.can_see(target, team or request.team):
            raise HandoffError("bad_target", f"{to_username!r} is not an agent of team {team or request.team}")
        if target.id == agent.id:
            raise HandoffError("bad_target", "the chat is yours already")
    team = (team or request.team).strip()
    if team not in agent_accounts.all_teams(session):
        raise HandoffError("bad_target", f"no team {team!r}")
    previous = request.team
    request.team = team
    if to_username:
        request.agent_id, request.taken_at = target.id, now
        what = f"{agent.display_name} passed the chat to {target.display_name} ({team})"
    else:
        request.agent_id, request.taken_at, request.queued_at = None, None, now
        what = f"{agent.display_name} passed the chat to the {team} queue"
    if request.ticket is not None:
        tickets.update_for_agent(session, request.ticket, tickets.Actor("agent", agent.username), team=team,
                                 assignee=target.username if to_username else "", now=now)
    _event(session, request, what, now)
    _audit(session, request, agent, "transferred", {"from": previous, "to": team, "agent": to_username})
    _notify(session, request, "utter_handoff_transferred", f"transferred:{request.id}:{now.timestamp()}")
    return request


def return_to_bot(session: Session, request_id: int, agent: Agent, now: Optional[datetime] = None) -> HumanRequest:
    """End agent mode; the bot greets the customer back and answers the next message."""
    now = now or utcnow()
    request = _end(session, request_id, agent, "returned", now)
    _notify(session, request, "utter_handoff_returned", f"returned:{request.id}")
    return request


def close(session: Session, request_id: int, agent: Agent, now: Optional[datetime] = None) -> HumanRequest:
    """End agent mode and close the ticket; the customer is asked to rate the help (the ticket's closing
    notification carries the rating buttons)."""
    now = now or utcnow()
    request = _end(session, request_id, agent, "closed", now)
    if request.ticket is not None and request.ticket.status != "closed":
        tickets.close(session, request.ticket, tickets.Actor("agent", agent.username), now)
    return request


def _end(session: Session, request_id: int, agent: Agent, outcome: str, now: datetime) -> HumanRequest:
    request = _holding(session, request_id, agent)
    table = HumanRequest.__table__
    ended = session.execute(
        update(table)
        .where(table.c.id == request.id, table.c.status == "open", table.c.agent_id == agent.id)
        .values(status="closed", outcome=outcome, ended_at=now)
    ).rowcount
    session.refresh(request)
    if not ended:
        raise HandoffError("ended", f"{request.reference} has ended")
    verb = "returned the chat to the bot" if outcome == "returned" else "closed the chat"
    _event(session, request, f"{agent.display_name} {verb}", now)
    _audit(session, request, agent, outcome)
    return request


def _body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise HandoffError("empty", "write something first")
    if len(body) > MESSAGE_MAX:
        raise HandoffError("too_long", f"at most {MESSAGE_MAX} characters")
    return body


def messages(session: Session, request: HumanRequest, after: int = 0) -> list[HandoffMessage]:
    """The entries of every handoff of this customer's conversation, oldest first."""
    ids = select(HumanRequest.id).where(HumanRequest.user_id == request.user_id)
    statement = (
        select(HandoffMessage)
        .where(HandoffMessage.request_id.in_(ids), HandoffMessage.id > after)
        .order_by(HandoffMessage.id)
    )
    return list(session.execute(statement).scalars())


def feed(session: Session, after: int, limit: int = 500) -> list[tuple[int, int, str, str]]:
    """(message id, handoff id, team, kind) of entries after ``after``: what the console's live feed sends on."""
    statement = (
        select(HandoffMessage.id, HandoffMessage.request_id, HumanRequest.team, HandoffMessage.kind)
        .join(HumanRequest, HumanRequest.id == HandoffMessage.request_id)
        .where(HandoffMessage.id > after)
        .order_by(HandoffMessage.id)
        .limit(limit)
    )
    return [tuple(row) for row in session.execute(statement).all()]



def _event(session: Session, request: HumanRequest, what: str, now: datetime) -> None:
    session.add(HandoffMessage(request_id=request.id, kind="system", text=what, created_at=now))
    session.flush()


def _audit(session: Session, request: HumanRequest, agent: Agent, action: str, details: Optional[dict] = None) -> None:
    audit.record(session, actor=f"agent:{agent.username}", action=f"human_request.{action}",
                 subject_type="human_request", subject_id=request.id, details=details)


def _notify(session: Session, request: HumanRequest, response: str, key: str, **params: str) -> None:
    outbox.enqueue(session, user_id=request.user_id, response=response, params=params or None,
                   idempotency_key=f"handoff:{key}:{response}", kind="handoff")


# --- the dashboard ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    waiting_now: int
    median_wait_seconds: Optional[float]
    median_first_response_seconds: Optional[float]
    median_handling_seconds: Optional[float]
    csat_average: Optional[float]
    csat_count: int
    handled: int


def dashboard(session: Session, agent: Agent, now: Optional[datetime] = None) -> Dashboard:
    """The agent's teams over the last 7 days (admins: every team)."""
    now = now or utcnow()
    since = now - HISTORY_WINDOW
    team_filter = [] if agent.is_admin else [HumanRequest.team.in_(agent.team_names)]
    waiting = session.execute(
        select(func.count(HumanRequest.id)).where(
            HumanRequest.status == "open", HumanRequest.agent_id.is_(None), HumanRequest.sender_id.isnot(None),
            *team_filter,
        )
    ).scalar_one()
    rows = session.execute(
        select(HumanRequest.queued_at, HumanRequest.taken_at, HumanRequest.first_response_at, HumanRequest.ended_at)
        .where(HumanRequest.queued_at >= since, *team_filter)
    ).all()

    def median_of(pairs: list[tuple[Optional[datetime], Optional[datetime]]]) -> Optional[float]:
        values = [(b - a).total_seconds() for a, b in pairs if a is not None and b is not None and b >= a]
        return median(values) if values else None

    ratings = [rating for _, rating in session.execute(
        select(Ticket.id, Ticket.rating)
        .join(HumanRequest, HumanRequest.ticket_id == Ticket.id)
        .where(Ticket.rated_at >= since, Ticket.rating.isnot(None), *team_filter)
        .distinct()
    ).all()]
    return Dashboard(
        waiting_now=waiting,
        median_wait_seconds=median_of([(q, t) for q, t, _, _ in rows]),
        median_first_response_seconds=median_of([(q, f) for q, _, f, _ in rows]),
        median_handling_seconds=median_of([(t, e) for _, t, _, e in rows]),
        csat_average=round(sum(ratings) / len(ratings), 2) if ratings else None,
        csat_count=len(ratings),
        handled=sum(1 for _, t, _, e in rows if t is not None and e is not None),
    )
