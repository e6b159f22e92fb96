"""Handing the conversation to a person, and relaying the customer's messages to them meanwhile."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import conversation, latest_language_detection
from actions.helpdesk_text import local_time
from backend.config import get_settings
from backend.db import session_scope
from backend.services import handoff, office_hours, users

TRANSCRIPT_TURNS = 20


def escalate(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    reason: str,
    *,
    ticket_id: Optional[int] = None,
    last_message: Optional[str] = None,
) -> List[EventType]:
    """Queue the conversation for a person and tell the customer their place and wait, in their language.
    Stops any form, since from now on every message goes to the agent."""
    talk = conversation(tracker)
    settings = get_settings()
    with session_scope() as session:
        escalation = handoff.escalate(
            session,
            channel=talk.channel,
            channel_user_id=talk.channel_user_id,
            sender_id=tracker.sender_id,
            language=talk.language,
            reason=reason,
            last_message=last_message if last_message is not None else last_words(tracker),
            transcript=transcript(tracker),
            ticket_id=ticket_id,
            hours=office_hours.parse(settings.support_hours, settings.support_timezone),
        )
        user = users.identify(session, talk.channel, talk.channel_user_id)
        users.set_language(session, user, talk.language, explicit=False)
        request = escalation.request
        reference = request.ticket.reference if request.ticket is not None else request.reference
        with_agent = not request.waiting
    if escalation.opens_at is not None:
        dispatcher.utter_message(response="utter_handoff_after_hours", reference=reference,
                                 opens_at=local_time(escalation.opens_at))
    elif with_agent:
        dispatcher.utter_message(response="utter_handoff_with_agent", reference=reference)
    else:
        dispatcher.utter_message(response="utter_handoff_queued", reference=reference,
                                 position=str(escalation.position), wait=str(escalation.wait_minutes))
    events: List[EventType] = []
    if tracker.active_loop_name:
        events += [ActiveLoop(None), SlotSet("requested_slot", None)]
    return events


def transcript(tracker: Tracker) -> str:
    """The last turns of the conversation, for the ticket a handoff opens."""
    lines = []
    for event in tracker.events:
        text = (event.get("text") or "").strip()
        if not text or text.startswith("/"):
            continue
        if event.get("event") == "user":
            lines.append(f"Customer: {text}")
        elif event.get("event") == "bot":
            lines.append(f"Sahayak: {text}")
    return "\n".join(lines[-TRANSCRIPT_TURNS:])


def last_words(tracker: Tracker, intent: Optional[str] = None) -> str:
    """What the team should read first: the customer's last message (typed, not a button), or the last one the
    NLU read as ``intent``."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        text = (event.get("text") or "").strip()
        read_as = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if text and not text.startswith("/") and (intent is None or read_as == intent):
            return text
    return ""


class ActionRequestHuman(Action):
    def name(self) -> Text:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        return escalate(dispatcher, tracker, "asked")


class ActionRelayToAgent(Action):
    """Predicted by ``bot.policies.HandoffPolicy`` for every message while a person has the conversation: the
    message goes to them and the bot says nothing."""

    def name(self) -> Text:
        return "action_relay_to_agent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        message = tracker.latest_message or {}
        detection = latest_language_detection(tracker)
        with session_scope() as session:
            relayed = handoff.relay_customer_message(
                session,
                sender_id=tracker.sender_id,
                text=message.get("text") or "",
                language=detection.get("code") if detection.get("reliable") else None,
                external_id=message.get("message_id"),
            )
        if relayed is None:
            # The agent handed the chat back between the policy's check and now: the bot is back.
            dispatcher.utter_message(response="utter_handoff_returned")
        return []
