"""What the bot does when it did not understand: rephrase first, then hand the conversation to a person."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import latest_language_detection
from actions.handoff import escalate, last_words
from actions.knowledge_base import answer_question
from backend.db import session_scope
from backend.services import knowledge_base
from bot.language.preference import sdk_user_events
from bot.languages import is_native

FALLBACK = "nlu_fallback"


def _is_untranslatable(detection: dict) -> bool:
    return bool(detection.get("reliable") and not is_native(detection.get("code")) and not detection.get("translated"))


def _previous_user_message(tracker: Tracker) -> Optional[dict]:
    user_events = sdk_user_events(tracker.events)
    return user_events[1] if len(user_events) > 1 else None


def _was_a_miss(event: Optional[dict]) -> bool:
    if not event:
        return False
    parse_data = event.get("parse_data") or {}
    intent = (parse_data.get("intent") or {}).get("name")
    return intent == FALLBACK and bool((event.get("text") or "").strip()) and not _is_untranslatable(
        parse_data.get("language") or {}
    )


class ActionHandleFallback(Action):
    def name(self) -> Text:
        return "action_handle_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        if not (tracker.latest_message.get("text") or "").strip():
            dispatcher.utter_message(response="utter_empty_message")
            return []
        if _is_untranslatable(latest_language_detection(tracker)):
            dispatcher.utter_message(response="utter_translation_unavailable")
            return []
        if _knowledge_base_may_know(tracker):
            # Not one of the intents, but the knowledge base has something on it: answer from there.
            return answer_question(dispatcher, tracker)
        if _was_a_miss(_previous_user_message(tracker)):
            dispatcher.utter_message(response="utter_handoff_not_understood")
            return escalate(dispatcher, tracker, "fallback", last_message=last_words(tracker, FALLBACK))
        dispatcher.utter_message(response="utter_rephrase")
        return []


def _knowledge_base_may_know(tracker: Tracker) -> bool:
    text = (tracker.latest_message.get("text") or "").strip()
    if not text or text.startswith("/"):
        return False
    with session_scope() as session:
        hits = knowledge_base.search(session, text)
    return bool(hits) and hits[0][2] >= knowledge_base.CONFIDENCE_THRESHOLD
