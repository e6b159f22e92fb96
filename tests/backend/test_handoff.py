"""The handoff lifecycle: escalation to a team's queue, taking (exactly one winner), replies with translation,
notes, transfer, return to the bot, close with CSAT; on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from backend.db import session_scope
from backend.models import AuditLog, HandoffMessage, HumanRequest, OutboxMessage, Ticket, TicketComment
from backend.services import agents, handoff, office_hours, tickets, users

PASSWORD = "correct horse battery"


def ask(session, message: str = "I need help", **overrides):
    arguments = dict(channel="telegram", channel_user_id="42", sender_id="42", language="hi", reason="asked",
                     last_message=message, transcript=f"Customer: {message}")
    arguments.update(overrides)
    return handoff.escalate(session, **arguments)


def make_agent(session, username="asha", teams=("customer-care",), language="en", **extra):
    return agents.create_agent(session, username=username, display_name=username.title(), password=PASSWORD,
                               teams=teams, language=language, **extra)


def outbox_of(session, kind="handoff"):
    return session.execute(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)).scalars().all()


def test_escalation_opens_a_ticket_with_the_conversation_and_queues_it(database_url: str) -> None:
    with session_scope(database_url) as session:
        escalation = ask(session, "x" * 5000, transcript="Customer: my order is late\nSahayak: Sorry!")
        request = escalation.request
        assert escalation.created and escalation.position == 1 and escalation.wait_minutes >= 1
        assert escalation.opens_at is None
        assert request.reference == f"H-{request.id:06d}" and len(request.last_message) == 2000
        assert (request.status, request.team, request.sender_id, request.agent_id) == ("open", "customer-care", "42", None)
        ticket = request.ticket
        assert ticket.category == "other" and "my order is late" in ticket.description
        # The chat announces the handoff itself: no separate "ticket created" notification.
        assert session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 0
        events = session.execute(select(HandoffMessage)).scalars().all()
        assert [e.kind for e in events] == ["system"]

    with session_scope(database_url) as session:
        again = ask(session, "still waiting", reason="fallback")
        assert (again.request.id, again.created, again.position) == (request.id, False, 1)
        assert session.execute(select(func.count(HumanRequest.id))).scalar_one() == 1
        assert session.execute(select(func.count(Ticket.id))).scalar_one() == 1


def test_escalation_uses_the_customers_open_ticket_and_its_team(database_url: str) -> None:
    with session_scope(database_url) as session:
        user = users.identify(session, "telegram", "42")
        ticket, _ = tickets.open_ticket(session, user=user, channel="telegram", language="hi", category="payment",
                                        description="paid but the order shows unpaid")
        request = ask(session).request
        assert (request.ticket_id, request.team) == (ticket.id, "billing")


def test_queue_position_and_wait_follow_the_team(database_url: str) -> None:
    now = datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)
    with session_scope(database_url) as session:
        first = ask(session, channel_user_id="1", sender_id="1", now=now)
        second = ask(session, channel_user_id="2", sender_id="2", now=now + timedelta(seconds=5))
        make_agent(session)
        assert (first.position, second.position) == (1, 2)
        # No history yet: five minutes a chat, one agent in the team.
        assert (first.wait_minutes, second.wait_minutes) == (5, 10)
        make_agent(session, "ravi")
        assert handoff.expected_wait_minutes(session, "customer-care", 2, now) == 5
        assert handoff.expected_wait_minutes(session, "billing", 1, now) == 5


def test_outside_office_hours_the_customer_is_told_when_someone_replies(database_url: str) -> None:
    hours = office_hours.parse("mon-fri 09:00-18:00", "Asia/Kolkata")
    saturday_night = datetime(2026, 12, 5, 18, 0, tzinfo=timezone.utc)  # 23:30 in India
    with session_scope(database_url) as session:
        escalation = ask(session, hours=hours, now=saturday_night)
    assert escalation.opens_at == datetime(2026, 12, 7, 9, 0, tzinfo=office_hours.ZoneInfo("Asia/Kolkata"))
    assert escalation.request.status == "open"  # the ticket and the chat stay open for the morning


def test_customer_messages_are_relayed_once_and_only_in_agent_mode(database_url: str) -> None:
    with session_scope(database_url) as session:
        request = ask(session).request
        first = handoff.relay_customer_message(session, sender_id="42", text="कोई है?", language="hi", external_id="m1")
        again = handoff.relay_customer_message(session, sender_id="42", text="कोई है?", language="hi", external_id="m1")
        assert first.id == again.id and first.kind == "customer"
        assert handoff.relay_customer_message(session, sender_id="other", text="hi", language="en") is None
        assert request.last_message == "कोई है?"


def test_a_message_written_as_the_agent_ends_the_chat_is_not_relayed(database_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent returned the chat to the bot between the relay's lookup and its write: the bot answers it."""
    with session_scope(database_url) as session:
        request_id = ask(session).request.id
        handoff.take(session, request_id, make_agent(session))
    lookup = handoff.open_for_sender

    def returned_right_after(session, sender_id):
        found = lookup(session, sender_id)
        with session_scope(database_url) as other:
            handoff.return_to_bot(other, request_id, agents.find(other, "asha"))
        return found

    monkeypatch.setattr(handoff, "open_for_sender", returned_right_after)
    with session_scope(database_url) as session:
        assert handoff.relay_customer_message(session, sender_id="42", text="hello?", language=None) is None
    with session_scope(database_url) as session:
        kinds = [m.kind for m in session.execute(select(HandoffMessage)).scalars()]
        assert "customer" not in kinds and session.get(HumanRequest, request_id).last_message == "I need help"


def test_exactly_one_of_two_agents_taking_the_same_chat_wins(database_url: str, run_in_threads, first_call_barrier,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with session_scope(database_url) as session:
        request_id = ask(session).request.id
        make_agent(session, "asha")
        make_agent(session, "ravi")
    # Both agents pass the visibility lookup before either updates: the race the conditional UPDATE must decide.
    monkeypatch.setattr(handoff, "visible", first_call_barrier(handoff.visible, 2))

    def take(index: int) -> str:
        try:
            with session_scope(database_url) as session:
                agent = agents.find(session, ["asha", "ravi"][index])
                handoff.take(session, request_id, agent)
            return "won"
        except handoff.HandoffError as error:
            return error.code

    assert sorted(run_in_threads(2, take)) == ["taken", "won"]
    with session_scope(database_url) as session:
        request = session.get(HumanRequest, request_id)
        assert request.agent_id is not None and request.taken_at is not None
        joined = [m for m in outbox_of(session) if m.response == "utter_handoff_agent_joined"]
        assert len(joined) == 1 and joined[0].params["agent_name"] == request.agent.display_name
        assert request.ticket.assignee == request.agent.username


def test_reply_is_translated_for_the_customer_and_the_original_kept(database_url: str) -> None:
    calls = []

    def translate(text, source, target):
        calls.append((text, source, target))
        return f"[{target}] {text}"

    with session_scope(database_url) as session:
        request_id = ask(session).request.id
        asha = make_agent(session)
        handoff.take(session, request_id, asha)
        message = handoff.reply(session, request_id, asha, "  Your refund is on its way.  ", translate)
        assert (message.text, message.translation, message.translation_language) == (
            "Your refund is on its way.", "[hi] Your refund is on its way.", "hi")
        assert calls == [("Your refund is on its way.", "en", "hi")]
        sent = outbox_of(session)[-1]
        assert (sent.text, sent.response) == ("[hi] Your refund is on its way.", None)
        request = session.get(HumanRequest, request_id)
        assert request.first_response_at is not None
        assert request.ticket.status == "in_progress" and request.ticket.first_response_at is not None
        # The chat itself answered: no ticket notification on top of the reply.
        assert session.execute(select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "ticket")).scalar_one() == 0


def test_without_translation_the_reply_goes_as_written(database_url: str) -> None:
    with session_scope(database_url) as session:
        request_id = ask(session).request.id
        asha = make_agent(session)
        handoff.take(session, request_id, asha)
        message = handoff.reply(session, request_id, asha, "One moment please", lambda *a: None)
        assert message.translation is None
        assert outbox_of(session)[-1].text == "One moment please"


def test_only_the_agent_holding_the_chat_acts_on_it(database_url: str) -> None:
    with session_scope(database_url) as session:
        request_id = ask(session).request.id
        asha, ravi = make_agent(session, "asha"), make_agent(session, "ravi")
        outsider = make_agent(session, "meena", teams=("billing",))
        with pytest.raises(handoff.HandoffError) as error:
            handoff.reply(session, request_id, asha, "hello", lambda *a: None)
        assert error.value.code == "not_yours"
        handoff.take(session, request_id, asha)
        with pytest.raises(handoff.HandoffError) as error:
            handoff.return_to_bot(session, request_id, ravi)
        assert error.value.code == "not_yours"
        # Another team's agent cannot even see it: the same answer as a chat that does not exist.
        for chat_id in (request_id, 99999):
            with pytest.raises(handoff.HandoffError) as error:
                handoff.visible(session, outsider, chat_id)
            assert error.value.code == "not_found"
        assert [r.id for r in handoff.queue(session, outsider)] == []
        for bad in ("", "   ", "x" * 4001):
            with pytest.raises(handoff.HandoffError):
                handoff.reply(session, request_id, asha, bad, lambda *a: None)


def test_note_stays_internal_and_lands_on_the_ticket(database_url: str) -> None:
    with session_scope(database_url) as session:
        request = ask(session).request
        asha = make_agent(session)
        handoff.note(session, request.id, asha, "Customer sounds upset; check payment logs")
        assert outbox_of(session) == []
        comment = session.execute(select(TicketComment)).scalar_one()
        assert comment.internal and comment.ticket_id == request.ticket_id


def test_transfer_to_a_team_requeues_and_to_an_agent_assigns(database_url: str) -> None:
    with session_scope(database_url) as session:
        request_id = ask(session).request.id
        asha = make_agent(session)
        meena = make_agent(session, "meena", teams=("billing",))
        handoff.take(session, request_id, asha)
        request = handoff.transfer(session, request_id, asha, team="billing")
        assert (request.team, request.agent_id, request.ticket.team) == ("billing", None, "billing")
        assert [r.id for r in handoff.queue(session, meena)] == [request_id]
        handoff.take(session, request_id, meena)
        with pytest.raises(handoff.HandoffError):
            handoff.transfer(session, request_id, meena, to_username="asha")  # asha is not in billing
        with pytest.raises(handoff.HandoffError):
            handoff.transfer(session, request_id, meena, team="no-such-team")
        ravi = make_agent(session, "ravi", teams=("billing",))
        request = handoff.transfer(session, request_id, meena, to_username="ravi")
        assert request.agent_id == ravi.id
        assert [m.response for m in outbox_of(session)].count("utter_handoff_transferred") == 2


def test_return_to_bot_ends_agent_mode_and_greets_the_customer_back(database_url: str) -> None:
    with session_scope(database_url) as session:
        request_id = ask(session).request.id
        asha = make_agent(session)
        handoff.take(session, request_id, asha)
        request = handoff.return_to_bot(session, request_id, asha)
        assert (request.status, request.outcome) == ("closed", "returned") and request.ended_at is not None
        assert handoff.open_for_sender(session, "42") is None
        assert outbox_of(session)[-1].response == "utter_handoff_returned"
        assert request.ticket.status == "open"  # the ticket goes on; only the chat went back to the bot
        with pytest.raises(handoff.HandoffError) as error:
            handoff.return_to_bot(session, request_id, asha)
        assert error.value.code == "ended"
        # A new escalation later is a new handoff on the same open ticket.
        again = ask(session)
        assert again.created and again.request.id != request_id and again.request.ticket_id == request.ticket_id


def test_close_resolves_the_ticket_and_asks_for_a_rating(database_url: str) -> None:
    with session_scope(database_url) as session:
        request_id = ask(session).request.id
        asha = make_agent(session)
        handoff.take(session, request_id, asha)
        request = handoff.close(session, request_id, asha)
        assert (request.outcome, request.ticket.status, request.ticket.closed_by) == ("closed", "closed", "agent")
        rating = session.execute(select(OutboxMessage).where(OutboxMessage.response == "utter_notify_ticket_closed")).scalar_one()
        assert rating.params["reference"] == request.ticket.reference


def test_feed_and_dashboard(database_url: str) -> None:
    start = datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)
    with session_scope(database_url) as session:
        asha = make_agent(session)
        outsider = make_agent(session, "meena", teams=("billing",))
        for index in range(3):
            request_id = ask(session, channel_user_id=str(index), sender_id=str(index), now=start).request.id
            if index < 2:
                handoff.take(session, request_id, asha, now=start + timedelta(minutes=index + 1))
                handoff.reply(session, request_id, asha, "hi", lambda *a: None, now=start + timedelta(minutes=index + 2))
                chat = handoff.close(session, request_id, asha, now=start + timedelta(minutes=10))
                tickets.rate(session, chat.ticket, 4 + index, now=start + timedelta(minutes=11))
        metrics = handoff.dashboard(session, asha, now=start + timedelta(hours=1))
        assert metrics.waiting_now == 1 and metrics.handled == 2
        assert metrics.median_wait_seconds == 90 and metrics.median_first_response_seconds == 150
        assert metrics.median_handling_seconds == 510
        assert (metrics.csat_average, metrics.csat_count) == (4.5, 2)
        assert handoff.dashboard(session, outsider, now=start + timedelta(hours=1)).waiting_now == 0
        feed = handoff.feed(session, 0)
        assert [row[0] for row in feed] == sorted(row[0] for row in feed)
        assert {row[2] for row in feed} == {"customer-care"}


def test_every_step_is_audited(database_url: str) -> None:
    with session_scope(database_url) as session:
        request_id = ask(session).request.id
        asha = make_agent(session)
        handoff.take(session, request_id, asha)
        handoff.return_to_bot(session, request_id, asha)
        actions = session.execute(select(AuditLog.action).order_by(AuditLog.id)).scalars().all()
    assert [a for a in actions if a.startswith("human_request.")] == [
        "human_request.opened", "human_request.taken", "human_request.returned"]


def test_lost_race_on_escalation_returns_the_winner(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process opened a handoff between our lookup and our insert."""
    with session_scope(database_url) as session:
        winner = ask(session).request
    real_open_request = handoff.open_request
    calls = []

    def stale_first_lookup(session, user_id):
        calls.append(user_id)
        return None if len(calls) == 1 else real_open_request(session, user_id)

    monkeypatch.setattr(handoff, "open_request", stale_first_lookup)
    with session_scope(database_url) as session:
        escalation = ask(session, "second attempt")
    assert (escalation.request.id, escalation.created) == (winner.id, False)
    with session_scope(database_url) as session:
        assert session.execute(select(func.count(HumanRequest.id))).scalar_one() == 1


def test_reason_must_be_known(database_url: str) -> None:
    with session_scope(database_url) as session:
        with pytest.raises(ValueError):
            ask(session, reason="")


def test_reference_format() -> None:
    assert HumanRequest(id=7).reference == "H-000007"


def test_urgent_problems_are_recognised_in_every_language() -> None:
    from backend.services.ticket_routing import is_urgent, route

    for category, text in [
        ("device", "the SOS button on my son's watch does nothing"),
        ("device", "घड़ी का एसओएस बटन काम नहीं कर रहा"),
        ("device", "watch la SOS button velai seyyala"),
        ("payment", "I was charged twice for one order"),
        ("payment", "पैसे दो बार कट गए"),
        ("payment", "me cobraron dos veces"),
        ("payment", "panam rendu thadava pochu"),
        ("payment", "பணம் இரண்டு முறை எடுக்கப்பட்டது"),
    ]:
        assert is_urgent(category, text), text
    assert not is_urgent("payment", "my payment failed")
    assert not is_urgent("delivery", "SOS where is my parcel")
    assert not is_urgent("device", "the watch dossier")  # "sos" only as a word
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    assert route("payment", now, "charged twice").priority == "urgent"
    assert route("payment", now, "failed").priority == "high"
