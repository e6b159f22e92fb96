"""What the bot does when it did not understand: rephrase first, then offer a person."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import conversation, latest_language_detection
from actions.knowledge_base import answer_question
from backend.db import session_scope
from backend.services import handoff, knowledge_base, users
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
            return answer_question(dispatcher, tracker) + [SlotSet("human_offered", False)]
        if _was_a_miss(_previous_user_message(tracker)):
            dispatcher.utter_message(response="utter_offer_human")
            return [SlotSet("human_offered", True)]
        dispatcher.utter_message(response="utter_rephrase")
        return [SlotSet("human_offered", False)]


def _knowledge_base_may_know(tracker: Tracker) -> bool:
    text = (tracker.latest_message.get("text") or "").strip()
    if not text or text.startswith("/"):
        return False
    with session_scope() as session:
        hits = knowledge_base.search(session, text)
    return bool(hits) and hits[0][2] >= knowledge_base.CONFIDENCE_THRESHOLD


class ActionRequestHuman(Action):
    def name(self) -> Text:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        talk = conversation(tracker)
        reason = "fallback" if tracker.get_slot("human_offered") else "asked"
        with session_scope() as session:
            request, created = handoff.request_human(
                session,
                channel=talk.channel,
                channel_user_id=talk.channel_user_id,
                language=talk.language,
                reason=reason,
                last_message=_last_words(tracker, misunderstood_only=reason == "fallback"),
            )
            user = users.identify(session, talk.channel, talk.channel_user_id)
            users.set_language(session, user, talk.language, explicit=False)
            reference = request.reference
        response = "utter_human_requested" if created else "utter_human_already_requested"
        dispatcher.utter_message(response=response, reference=reference)
        return [SlotSet("human_offered", False)]


def _last_words(tracker: Tracker, misunderstood_only: bool) -> str:
    """What the team should read first: the last message the bot did not understand, or else the last one."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        text = (event.get("text") or "").strip()
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if text and not text.startswith("/") and (not misunderstood_only or intent == FALLBACK):
            return text
    return ""
