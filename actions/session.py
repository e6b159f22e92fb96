"""Session start: carries slots over and loads what the backend knows of the user."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import channel_of
from backend.db import session_scope
from backend.services import users


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        events.extend(self._carried_over_slots(tracker))
        with session_scope() as session:
            profile = users.profile(session, channel_of(tracker), tracker.sender_id)
        if profile.preferred_language:
            events.append(SlotSet("language", profile.preferred_language))
            if profile.language_explicit:
                events.append(SlotSet("preferred_language", profile.preferred_language))
        events.append(ActionExecuted("action_listen"))
        return events

    @staticmethod
    def _carried_over_slots(tracker: Tracker) -> List[EventType]:
        return [
            SlotSet(key=name, value=value)
            for name, value in tracker.current_slot_values().items()
            if name not in ("session_started_metadata", "faq_not_helped") and value is not None
        ]
