"""First component of the pipeline: which language a message is in, in English if need be.

It adds ``language`` to the parse data ({code, confidence, reliable, script, translated}), and
``language`` entities for language names ("switch to [Tamil]"). A message in a language Sahayak does not
speak natively is translated to English before the rest of the pipeline sees it, when translation is
configured; the original text is kept as ``original_text``.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.language.detect import Detection, detect, warm_up
from bot.language.names import LanguageNames
from bot.languages import SOURCE_LANGUAGE, is_native

logger = logging.getLogger(__name__)

LANGUAGE = "language"
ORIGINAL_TEXT = "original_text"
NAMES_FILE = "language_names.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class LanguageIdentifier(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # Longer messages are cut before identification and NLU: a 10,000-character paste should
            # not cost seconds of featurisation.
            "max_characters": 2000,
            "translate": True,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        names: Optional[LanguageNames] = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self.names = names or LanguageNames()
        self._translator = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageIdentifier":
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LanguageIdentifier":
        import json

        names = LanguageNames()
        try:
            with model_storage.read_from(resource) as directory:
                names.learn(json.loads((directory / NAMES_FILE).read_text(encoding="utf-8")))
        except (ValueError, FileNotFoundError):
            logger.debug("No learned language names in the model; using the built-in ones.")
        warm_up()
        return cls(config, model_storage, resource, names)

    def train(self, training_data: TrainingData) -> Resource:
        import json

        pairs = []
        for example in training_data.training_examples:
            for entity in example.get(ENTITIES, []):
                if entity.get("entity") == LANGUAGE:
                    pairs.append((example.get(TEXT)[entity["start"] : entity["end"]], entity.get("value")))
        self.names.learn(pairs)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / NAMES_FILE).write_text(json.dumps(sorted(set(pairs))), encoding="utf-8")
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            if example.get(TEXT):
                example.set(LANGUAGE, detect(example.get(TEXT)).as_dict())
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._process(message)
        return messages

    def _process(self, message: Message) -> None:
        text = (message.get(TEXT) or "")[: self._config["max_characters"]]
        if text != message.get(TEXT):
            message.set(TEXT, text)
        detection = detect(text)
        info = {**detection.as_dict(), "translated": False}
        if self._should_translate(detection):
            english = self._translate(text, detection.language)
            if english is not None:
                message.set(ORIGINAL_TEXT, text, add_to_output=True)
                message.set(TEXT, english)
                text = english
                info["translated"] = True
        message.set(LANGUAGE, info, add_to_output=True)
        entities = [
            {
                "entity": LANGUAGE,
                "start": mention.start,
                "end": mention.end,
                "value": mention.code,
                "confidence_entity": 1.0,
                "extractor": self.__class__.__name__,
            }
            for mention in self.names.find(text)
        ]
        if entities:
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)

    def _should_translate(self, detection: Detection) -> bool:
        return (
            self._config["translate"]
            and detection.reliable
            and detection.language is not None
            and not is_native(detection.language)
        )

    def _translate(self, text: str, source: str) -> Optional[str]:
        if self._translator is None:
            from bot.translation import get_translator

            self._translator = get_translator()
        return self._translator.translate(text, source, SOURCE_LANGUAGE)
