"""Responses in the user's language.

Configured in endpoints.yml (``nlg: type: bot.nlg.LocalisedNLG``). English comes from domain.yml, every other
native language from its catalogue in bot/locales/; any other language gets the English response machine
translated, or the English response as it is when translation is unavailable. The language follows the
rules of ``bot.language.preference``; an action may name it outright with ``reply_language``
(``dispatcher.utter_message(response=..., reply_language="ta")``), as the language switch does.
"""
from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any, Dict, Optional, Text

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.catalogue import cached_locale
from bot.language.preference import core_parse_history, reply_language
from bot.languages import NATIVE_LANGUAGES, SOURCE_LANGUAGE, endonym, is_native

logger = logging.getLogger(__name__)

REPLY_LANGUAGE = "reply_language"


class LocalisedNLG(TemplatedNaturalLanguageGenerator):
    """English is this generator's own ``responses``: Rasa's agent creates the NLG before it loads the model
    and then sets ``responses`` from the model's domain, but only on a TemplatedNaturalLanguageGenerator."""

    def __init__(self, endpoint_config: Any = None, domain: Optional[Domain] = None) -> None:
        super().__init__(domain.responses if domain else {})
        self._locales: Dict[str, TemplatedNaturalLanguageGenerator] = {
            language: TemplatedNaturalLanguageGenerator(cached_locale(language))
            for language in NATIVE_LANGUAGES
            if language != SOURCE_LANGUAGE
        }
        self._translator = None

    async def generate(
        self,
        utter_action: Text,
        tracker: DialogueStateTracker,
        output_channel: Text,
        **kwargs: Any,
    ) -> Optional[Dict[Text, Any]]:
        language = kwargs.pop(REPLY_LANGUAGE, None) or language_of(tracker)
        kwargs.setdefault("language_name", endonym(language))
        slots = tracker.current_slot_values()
        locale = self._locales.get(language)
        response = locale.generate_from_slots(utter_action, slots, output_channel, **kwargs) if locale else None
        if response is None:
            if locale is not None:
                logger.warning("No %s response for %s in its catalogue; answering in English.", language, utter_action)
            response = super().generate_from_slots(utter_action, slots, output_channel, **kwargs)
            if response is not None and not is_native(language):
                response = await self._translated(response, language)
        return response

    async def _translated(self, response: Dict[Text, Any], language: str) -> Dict[Text, Any]:
        if self._translator is None:
            from bot.translation import get_translator

            self._translator = get_translator()
        if not self._translator.configured:
            return response
        translated = copy.deepcopy(response)
        loop = asyncio.get_running_loop()

        async def translate(text: str) -> str:
            result = await loop.run_in_executor(None, self._translator.translate, text, SOURCE_LANGUAGE, language)
            return result if result is not None else text

        if translated.get("text"):
            translated["text"] = await translate(translated["text"])
        for button in translated.get("buttons") or []:
            if button.get("title"):
                button["title"] = await translate(button["title"])
        return translated


def language_of(tracker: DialogueStateTracker) -> str:
    return reply_language(
        core_parse_history(tracker), tracker.get_slot("preferred_language"), tracker.get_slot("language")
    )
