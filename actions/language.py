"""Switching the conversation's language ("switch to Tamil", "/lang ta", a language button)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import conversation
from backend.db import session_scope
from backend.services import users
from bot.language.names import LANGUAGE_CODES
from bot.languages import endonym, is_native
from bot.nlg import REPLY_LANGUAGE
from bot.translation import get_translator


class ActionSwitchLanguage(Action):
    def name(self) -> Text:
        return "action_switch_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        requested = [code for code in tracker.get_latest_entity_values("language") if code in LANGUAGE_CODES]
        if not requested:
            dispatcher.utter_message(response="utter_ask_language")
            return []
        language = requested[-1]
        if not is_native(language) and not get_translator().available:
            dispatcher.utter_message(response="utter_language_unavailable", language_name=endonym(language))
            return []
        talk = conversation(tracker)
        with session_scope() as session:
            user = users.identify(session, talk.channel, talk.channel_user_id)
            users.set_language(session, user, language, explicit=True)
        response = "utter_language_switched" if is_native(language) else "utter_language_switched_translated"
        dispatcher.utter_message(response=response, language_name=endonym(language), **{REPLY_LANGUAGE: language})
        return [SlotSet("preferred_language", language), SlotSet("language", language)]
