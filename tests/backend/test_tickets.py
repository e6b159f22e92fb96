"""The ticket lifecycle: routing, SLA, duplicates, authorisation, automatic closing, ratings, notifications."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from backend.db import session_scope
from backend.models import AuditLog, OutboxMessage, Ticket
from backend.services import tickets, users

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
AGENT = tickets.Actor("agent", "ravi")


def open_one(session, who: str = "42", *, category: str = "delivery", description: str = "My parcel never arrived",
             now: datetime = T0, channel: str = "telegram", details=None):
    user = users.identify(session, channel, who)
    return tickets.open_ticket(
        session, user=user, channel=channel, language="ta", category=category, description=description,
        details=details, now=now,
    )


def outbox_rows(session, ticket_id=None):
    rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
    return [(r.response, r.params) for r in rows]


@pytest.mark.parametrize(
    "category, team, priority, first_hours, resolution_hours",
    [
        ("device", "device-support", "high", 1, 8),
        ("payment", "billing", "high", 1, 8),
        ("delivery", "logistics", "normal", 4, 48),
        ("product", "product-care", "normal", 4, 48),
        ("account", "accounts", "normal", 4, 48),
        ("other", "customer-care", "low", 24, 120),
    ],
)
def test_routing_gives_team_priority_and_sla_due_times(
    database_url, category, team, priority, first_hours, resolution_hours
) -> None:
    with session_scope(database_url) as session:
        ticket, created = open_one(session, category=category)
    assert created
    assert (ticket.team, ticket.priority, ticket.status) == (team, priority, "open")
    assert ticket.first_response_due == T0 + timedelta(hours=first_hours)
    assert ticket.resolution_due == T0 + timedelta(hours=resolution_hours)
    assert ticket.reference == f"T-{ticket.id:06d}"


def test_a_new_ticket_queues_its_receipt_in_the_same_transaction(database_url) -> None:
    with session_scope(database_url) as session:
        ticket, _ = open_one(session, category="payment", details="SO-482913")
    with session_scope(database_url) as session:
        assert outbox_rows(session) == [("utter_notify_ticket_created", {"reference": ticket.reference, "hours": 1})]
        message = session.execute(select(OutboxMessage)).scalar_one()
        assert (message.user_id, message.kind, message.status) == (ticket.user_id, "ticket", "pending")
        stored = session.get(Ticket, ticket.id)
        assert stored.details == "SO-482913"
    with pytest.raises(RuntimeError):
        with session_scope(database_url) as session:
            open_one(session, who="43")
            raise RuntimeError("the conversation failed after the service call")
    with session_scope(database_url) as session:
        assert session.execute(select(func.count(Ticket.id))).scalar_one() == 1
        assert session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 1


def test_the_same_complaint_within_ten_minutes_returns_the_existing_ticket(database_url) -> None:
    with session_scope(database_url) as session:
        first, _ = open_one(session, description="My parcel never arrived!")
    with session_scope(database_url) as session:
        again, created = open_one(session, description="my parcel  never arrived", now=T0 + timedelta(minutes=9))
        assert (again.id, created) == (first.id, False)
        # A few words changed still says the same thing.
        reworded, created = open_one(
            session, description="My parcel never arrived at all", now=T0 + timedelta(minutes=9)
        )
        assert (reworded.id, created) == (first.id, False)
        # Another problem, another category, another customer, or later: new tickets.
        other, created = open_one(session, description="The kurta colour is faded after one wash", category="product",
                                  now=T0 + timedelta(minutes=5))
        assert created and other.id != first.id
        someone_else, created = open_one(session, who="99", now=T0 + timedelta(minutes=5))
        assert created and someone_else.id != first.id
        later, created = open_one(session, now=T0 + timedelta(minutes=11))
        assert created and later.id != first.id
        assert session.execute(select(func.count(Ticket.id))).scalar_one() == 4


def test_concurrent_duplicates_open_one_ticket(database_url) -> None:
    with session_scope(database_url) as session:
        users.identify(session, "telegram", "42")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def submit() -> None:
        try:
            barrier.wait()
            with session_scope(database_url) as session:
                ticket, created = open_one(session)
                results.append((ticket.id, created))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({ticket_id for ticket_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_customers_reach_only_their_own_tickets(database_url) -> None:
    with session_scope(database_url) as session:
        mine, _ = open_one(session, who="42")
        theirs, _ = open_one(session, who="77")
        me = users.identify(session, "telegram", "42")
        assert tickets.find_for_user(session, me.id, mine.id).id == mine.id
        assert tickets.find_for_user(session, me.id, theirs.id) is None
        assert tickets.find_for_user(session, me.id, 999_999) is None
        assert [t.id for t in tickets.tickets_of(session, me.id)] == [mine.id]


def test_lifecycle_notifies_what_the_customer_did_not_do_themselves(database_url) -> None:
    with session_scope(database_url) as session:
        ticket, _ = open_one(session)
        user = ticket.user
        tickets.add_comment(session, ticket, tickets.customer(user), "It was a blue box", now=T0 + timedelta(minutes=1))
        tickets.add_comment(session, ticket, AGENT, "internal: check courier", internal=True, now=T0 + timedelta(minutes=2))
        assert ticket.status == "open" and ticket.first_response_at is None
        tickets.add_comment(session, ticket, AGENT, "We are checking with the courier", now=T0 + timedelta(minutes=3))
        assert ticket.status == "in_progress" and ticket.first_response_at == T0 + timedelta(minutes=3)
        tickets.resolve(session, ticket, AGENT, T0 + timedelta(hours=1), quiet_days=3)
        tickets.close(session, ticket, tickets.customer(user), T0 + timedelta(hours=2))
        assert (ticket.status, ticket.closed_by) == ("closed", "customer")
        tickets.rate(session, ticket, 4, "  quick, thanks ")
        reference = ticket.reference
    with session_scope(database_url) as session:
        assert [r for r, _ in outbox_rows(session)] == [
            "utter_notify_ticket_created",
            "utter_notify_ticket_in_progress",
            "utter_notify_ticket_comment",
            "utter_notify_ticket_resolved",
        ]
        assert outbox_rows(session)[2][1] == {"reference": reference, "comment": "We are checking with the courier"}
        assert outbox_rows(session)[3][1] == {"reference": reference, "days": 3}
        stored = session.get(Ticket, ticket.id)
        assert (stored.rating, stored.rating_comment) == (4, "quick, thanks")
        actions = session.execute(
            select(AuditLog.action).where(AuditLog.subject_id == reference).order_by(AuditLog.id)
        ).scalars().all()
    assert actions == [
        "ticket.opened", "ticket.commented", "ticket.commented", "ticket.commented", "ticket.in_progress",
        "ticket.resolved", "ticket.closed", "ticket.rated",
    ]


def test_invalid_changes_are_refused(database_url) -> None:
    with session_scope(database_url) as session:
        ticket, _ = open_one(session)
        customer = tickets.customer(ticket.user)
        with pytest.raises(tickets.TicketError) as not_closed:
            tickets.rate(session, ticket, 5)
        assert not_closed.value.code == "not_closed"
        with pytest.raises(tickets.TicketError):
            tickets.reopen(session, ticket, customer)
        with pytest.raises(ValueError):
            tickets.add_comment(session, ticket, customer, "   ")
        with pytest.raises(ValueError):
            tickets.add_comment(session, ticket, customer, "secret", internal=True)
        tickets.close(session, ticket, customer, T0)
        with pytest.raises(tickets.TicketError) as closed:
            tickets.close(session, ticket, customer, T0)
        assert closed.value.code == "already_closed"
        with pytest.raises(tickets.TicketError):
            tickets.add_comment(session, ticket, customer, "one more thing")
        for rating in (0, 6, "5", 4.5):
            with pytest.raises(ValueError):
                tickets.rate(session, ticket, rating)
        with pytest.raises(ValueError):
            open_one(session, category="weather")
        with pytest.raises(ValueError):
            open_one(session, description="   ")


def test_reopening_restarts_the_clock_but_not_after_thirty_days(database_url) -> None:
    with session_scope(database_url) as session:
        ticket, _ = open_one(session, category="device")
        customer = tickets.customer(ticket.user)
        tickets.close(session, ticket, customer, T0 + timedelta(hours=1))
        tickets.rate(session, ticket, 2)
        later = T0 + timedelta(days=10)
        tickets.reopen(session, ticket, customer, later)
        assert (ticket.status, ticket.reopen_count, ticket.rating, ticket.closed_at) == ("open", 1, None, None)
        assert ticket.resolution_due == later + timedelta(hours=8)
        tickets.close(session, ticket, customer, later)
        with pytest.raises(tickets.TicketError) as too_old:
            tickets.reopen(session, ticket, customer, later + timedelta(days=31))
        assert too_old.value.code == "too_old"
        assert tickets.reopenable_of(session, ticket.user_id, later + timedelta(days=31)) == []
        assert [t.id for t in tickets.reopenable_of(session, ticket.user_id, later + timedelta(days=29))] == [ticket.id]


def test_a_customer_reply_to_a_resolved_ticket_reopens_it(database_url) -> None:
    with session_scope(database_url) as session:
        ticket, _ = open_one(session)
        tickets.resolve(session, ticket, AGENT, T0 + timedelta(hours=1))
        tickets.add_comment(session, ticket, tickets.customer(ticket.user), "Still not here", now=T0 + timedelta(hours=2))
        assert (ticket.status, ticket.reopen_count) == ("open", 1)
        assert ticket.last_customer_activity_at == T0 + timedelta(hours=2)


def test_sla_breaches_are_marked_and_escalated_once(database_url) -> None:
    with session_scope(database_url) as session:
        device, _ = open_one(session, category="device", description="Watch does not charge any more")
        delivery, _ = open_one(session, who="7", category="delivery", description="Parcel late by a week")
        answered, _ = open_one(session, who="8", category="device", description="Watch screen is cracked")
        tickets.add_comment(session, answered, AGENT, "Sending a courier", now=T0 + timedelta(minutes=30))
    with session_scope(database_url) as session:
        assert tickets.breach_sla(session, T0 + timedelta(minutes=59)) == []
        breached = tickets.breach_sla(session, T0 + timedelta(hours=1, minutes=1))
        assert [t.id for t in breached] == [device.id]
        assert (breached[0].priority, breached[0].escalation_level) == ("urgent", 1)
        assert tickets.breach_sla(session, T0 + timedelta(hours=2)) == []  # once per breach
    with session_scope(database_url) as session:
        breached = tickets.breach_sla(session, T0 + timedelta(hours=9))
        # device: resolution (8 h); answered: resolution; delivery: first response (4 h).
        assert sorted((t.id, t.priority) for t in breached) == sorted(
            [(delivery.id, "high"), (device.id, "urgent"), (answered.id, "urgent")]
        )
        stored = session.get(Ticket, device.id)
        assert stored.first_response_breached_at and stored.resolution_breached_at
        assert tickets.search(session, breached=True, statuses=["open", "in_progress"])
        targets = session.execute(
            select(AuditLog.details).where(AuditLog.action == "ticket.sla_breached").order_by(AuditLog.id)
        ).scalars().all()
    assert [t["target"] for t in targets].count("first_response") == 2


def test_resolved_tickets_close_themselves_after_quiet_days(database_url) -> None:
    with session_scope(database_url) as session:
        quiet, _ = open_one(session)
        talking, _ = open_one(session, who="5")
        open_still, _ = open_one(session, who="6")
        tickets.resolve(session, quiet, AGENT, T0, quiet_days=3)
        tickets.resolve(session, talking, AGENT, T0, quiet_days=3)
        talking.last_customer_activity_at = T0 + timedelta(days=2)
    with session_scope(database_url) as session:
        assert tickets.auto_close(session, quiet_days=3, now=T0 + timedelta(days=2, hours=23)) == []
        closed = tickets.auto_close(session, quiet_days=3, now=T0 + timedelta(days=3, minutes=1))
        assert [t.id for t in closed] == [quiet.id]
        assert (closed[0].status, closed[0].closed_by) == ("closed", "system")
        assert tickets.auto_close(session, quiet_days=3, now=T0 + timedelta(days=4)) == []
        assert session.get(Ticket, open_still.id).status == "open"
        notices = [
            (r.user_id, r.response, r.params)
            for r in session.execute(
                select(OutboxMessage).where(OutboxMessage.response == "utter_notify_ticket_auto_closed")
            ).scalars()
        ]
    assert notices == [(quiet.user_id, "utter_notify_ticket_auto_closed", {"reference": quiet.reference, "days": 3})]


def test_agent_updates_go_through_the_lifecycle(database_url) -> None:
    with session_scope(database_url) as session:
        ticket, _ = open_one(session)
        tickets.update_for_agent(session, ticket, AGENT, priority="urgent", team="billing", assignee="ravi")
        assert (ticket.priority, ticket.team, ticket.assignee) == ("urgent", "billing", "ravi")
        tickets.update_for_agent(session, ticket, AGENT, status="resolved", now=T0 + timedelta(hours=1))
        assert ticket.status == "resolved" and ticket.first_response_at == T0 + timedelta(hours=1)
        tickets.update_for_agent(session, ticket, AGENT, status="closed", now=T0 + timedelta(hours=2))
        assert (ticket.status, ticket.closed_by) == ("closed", "agent")
        with pytest.raises(ValueError):
            tickets.update_for_agent(session, ticket, AGENT, status="archived")
        with pytest.raises(ValueError):
            tickets.update_for_agent(session, ticket, AGENT, priority="whenever")
        assert [r for r, _ in outbox_rows(session)][-1] == "utter_notify_ticket_closed"
