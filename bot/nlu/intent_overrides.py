"""Last component of the pipeline: the few decisions that must not be left to a classifier.

- ``/lang ta`` is always a language switch, and Telegram's ``/start``, ``/help``, ``/menu`` commands are
  greet and the menu;
- an empty message, and a message in a language we can neither speak nor translate, are ``nlu_fallback``
  (the fallback action answers them specifically);
- ``out_of_scope`` is trained as an intent, because examples of what we do not do beat a confidence
  threshold alone, but it is reported as ``nlu_fallback``, the public name for "not something I handle".
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.language.names import LanguageNames
from bot.languages import is_native
from bot.nlu.language_identifier import LANGUAGE

FALLBACK = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"
COMMANDS = {"/start": "greet", "/help": "ask_help", "/menu": "ask_help", "/lang": "switch_language"}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class IntentOverrides(GraphComponent):
    def __init__(self) -> None:
        self._names = LanguageNames()

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "IntentOverrides":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            forced = self._forced_intent(message)
            if forced:
                self._decide(message, forced, 1.0)
            elif (message.get(INTENT) or {}).get("name") == OUT_OF_SCOPE:
                self._decide(message, FALLBACK, message.get(INTENT).get("confidence"))
        return messages

    @staticmethod
    def _decide(message: Message, intent: str, confidence: float) -> None:
        """Sets the intent and puts it at the top of the ranking, as Rasa's FallbackClassifier does: Rasa's own
        evaluation (`rasa test nlu`) reads a fallback's ranking to find what the classifier would have said."""
        decided = {"name": intent, "confidence": confidence}
        ranking = [entry for entry in message.get(INTENT_RANKING_KEY) or [] if entry.get("name") != intent]
        message.set(INTENT, decided, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [decided] + ranking, add_to_output=True)

    def _forced_intent(self, message: Message) -> str | None:
        text = (message.get(TEXT) or "").strip()
        if not text:
            return FALLBACK
        command = text.split()[0].lower().split("@")[0]
        if command in COMMANDS and (command != "/lang" or self._names.command(text)):
            return COMMANDS[command]
        language = message.get(LANGUAGE) or {}
        if language.get("reliable") and not is_native(language.get("code")) and not language.get("translated"):
            return FALLBACK
        return None

