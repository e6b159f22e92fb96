"""The actions that hand a conversation to a person: each escalation trigger, and the relay while in agent mode
(the action server's code with a real database; the dialogue around them is tested through the stack)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from backend import config
from backend.db import session_scope
from backend.models import HandoffMessage, HumanRequest, Ticket


@pytest.fixture
def database(tmp_path: Path, sqlite_url: str):
    """The actions use the process settings: point them at a migrated database."""
    previous = config._cached
    config._cached = config.load_settings(
        environ={"DATABASE_URL": sqlite_url, "WEBCHAT_SECRET": "x" * 20, "SUPPORT_HOURS": ""}, env_file=None,
        var_dir=tmp_path / "var")
    yield sqlite_url
    config._cached = previous


def tracker(intent: str, text: str, slots: Optional[dict] = None, active_loop: Optional[str] = None,
            sender: str = "web-abc0123456789xyz") -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": [], "message_id": f"m-{text}",
               "intent_ranking": [{"name": intent, "confidence": 1.0}],
               "language": {"code": "en", "reliable": True}}
    events = [{"event": "user", "text": text, "parse_data": message, "message_id": message["message_id"]}]
    return Tracker(sender, slots or {}, message, events, False, None,
                   {"name": active_loop} if active_loop else {}, "action_listen")


def run(action: Any, track: Tracker) -> tuple[list[str], list]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, track, {}))
    return [m.get("response") for m in dispatcher.messages], events


def test_no_twice_to_did_this_help_brings_in_a_person(database: str) -> None:
    from actions.knowledge_base import ActionFaqFeedback

    responses, events = run(ActionFaqFeedback(), tracker("deny", "no", {"faq_not_helped": 0.0}))
    assert responses == ["utter_faq_not_helped"]
    assert {"event": "slot", "timestamp": None, "name": "faq_not_helped", "value": 1.0} in events
    with session_scope(database) as session:
        assert session.execute(select(HumanRequest)).first() is None

    responses, events = run(ActionFaqFeedback(), tracker("deny", "still no", {"faq_not_helped": 1.0}))
    assert responses == ["utter_handoff_not_helped", "utter_handoff_queued"]
    with session_scope(database) as session:
        chat = session.execute(select(HumanRequest)).scalar_one()
        assert (chat.reason, chat.status, chat.sender_id) == ("not_helped", "open", "web-abc0123456789xyz")

    responses, _ = run(ActionFaqFeedback(), tracker("affirm", "yes", {"faq_not_helped": 1.0}))
    assert responses == ["utter_faq_helped"]


def test_an_urgent_ticket_goes_to_a_person_at_once(database: str) -> None:
    from actions.ticket_form import ActionCreateTicket

    slots = {"ticket_category": "payment", "ticket_description": "I was charged twice for order 5521",
             "ticket_details": "-", "ticket_confirmed": True}
    responses, _ = run(ActionCreateTicket(), tracker("affirm", "yes", slots))
    assert responses == ["utter_ticket_created", "utter_handoff_urgent", "utter_handoff_queued"]
    with session_scope(database) as session:
        ticket = session.execute(select(Ticket)).scalar_one()
        chat = session.execute(select(HumanRequest)).scalar_one()
        assert (ticket.priority, ticket.team) == ("urgent", "billing")
        assert (chat.reason, chat.ticket_id, chat.team) == ("urgent", ticket.id, "billing")


def test_an_ordinary_ticket_stays_with_the_bot(database: str) -> None:
    from actions.ticket_form import ActionCreateTicket

    slots = {"ticket_category": "payment", "ticket_description": "my payment failed at checkout",
             "ticket_details": "-", "ticket_confirmed": True}
    responses, _ = run(ActionCreateTicket(), tracker("affirm", "yes", slots))
    assert responses == ["utter_ticket_created"]
    with session_scope(database) as session:
        assert session.execute(select(HumanRequest)).first() is None


def test_asking_for_a_person_inside_a_form_ends_the_form(database: str) -> None:
    from actions.handoff import ActionRequestHuman

    responses, events = run(ActionRequestHuman(), tracker("request_human", "let me talk to a human",
                                                          active_loop="ticket_form"))
    assert responses == ["utter_handoff_queued"]
    assert ActiveLoop(None) in events


def test_the_relay_records_messages_and_says_nothing_while_a_person_has_the_chat(database: str) -> None:
    from actions.handoff import ActionRelayToAgent, ActionRequestHuman

    run(ActionRequestHuman(), tracker("request_human", "a person please"))
    responses, _ = run(ActionRelayToAgent(), tracker("greet", "hello? anyone?"))
    assert responses == []
    with session_scope(database) as session:
        relayed = session.execute(select(HandoffMessage).where(HandoffMessage.kind == "customer")).scalar_one()
        assert (relayed.text, relayed.external_id) == ("hello? anyone?", "m-hello? anyone?")
        session.execute(select(HumanRequest)).scalar_one().status = "closed"
    # Handed back between the policy's check and the action: the bot is back and says so.
    responses, _ = run(ActionRelayToAgent(), tracker("greet", "hello again"))
    assert responses == ["utter_handoff_returned"]


def test_the_policy_relays_only_in_agent_mode(database: str) -> None:
    from backend.services import handoff
    from bot.policies import in_agent_mode

    assert in_agent_mode("web-abc0123456789xyz") is False
    with session_scope(database) as session:
        handoff.escalate(session, channel="rest", channel_user_id="web-abc0123456789xyz",
                         sender_id="web-abc0123456789xyz", language="en", reason="asked", last_message="help")
    assert in_agent_mode("web-abc0123456789xyz") is True
    assert in_agent_mode("someone-else") is False
