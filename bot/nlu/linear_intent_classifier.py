"""Intent classification by a linear support vector machine over every featurizer's sentence features.

Each featurizer's block is weighted on its own: sparse counts (character and word n-grams) become sublinear
TF-IDF rows of unit length, dense sentence embeddings unit rows times ``dense_weight``. One linear model over
them makes fewer errors than DIET on our data in every language (DIET learns the training set by heart within
20 epochs and then overfits), and a linear SVM fewer than a logistic regression over the same features, in a
twentieth of the training time (figures in docs/benchmarks.md).

An SVM's scores are margins, not probabilities, and the FallbackClassifier's threshold reads probabilities.
They become a softmax of the scores times one temperature, the one that best predicts the right intent of
training examples the model was not trained on (scored by cross-validation within the training data).

The model is stored as plain arrays (``numpy.savez`` without pickles), so loading a model runs no code from it.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

MODEL_FILE = "linear_intent_classifier.npz"


@dataclass
class Block:
    """How one featurizer's sentence features are scaled: ``idf`` for sparse counts, ``None`` for dense."""

    origin: str
    width: int
    idf: Optional[np.ndarray]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> List[type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 1.0, "dense_weight": 2.0, "calibration_folds": 3}

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn"]

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        blocks: Optional[List[Block]] = None,
        classes: Optional[List[str]] = None,
        weights: Optional[np.ndarray] = None,
        bias: Optional[np.ndarray] = None,
        temperature: float = 1.0,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self.blocks = blocks or []
        self.classes = classes or []
        self.weights = weights
        self.bias = bias
        self.temperature = temperature

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LinearIntentClassifier":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) is not None]
        labels = [m.get(INTENT) for m in examples]
        if len(set(labels)) < 2:
            logger.warning("Not training the intent classifier: it needs at least two intents.")
            return self._resource
        layout = self._layout(examples)
        counts = [self._block(examples, Block(origin, width, None)) for origin, width, _ in layout]
        self.blocks = [
            Block(origin, width, _idf(matrix) if sparse else None)
            for (origin, width, sparse), matrix in zip(layout, counts)
        ]
        features = self._scaled(counts)
        model = self._fit(features, labels)
        self.classes = [str(c) for c in model.classes_]
        self.weights, self.bias = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
        self.temperature = self._calibrate(features, labels)
        self._persist()
        return self._resource

    def _fit(self, features: scipy.sparse.csr_matrix, labels: List[str]) -> Any:
        from sklearn.svm import LinearSVC

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter: liblinear's default cap is enough here
            return LinearSVC(C=float(self._config["C"])).fit(features, labels)

    def _calibrate(self, features: scipy.sparse.csr_matrix, labels: List[str]) -> float:
        """The temperature that minimises the log-loss of held-out predictions across the training data's folds.

        Falls back to 1.0 when an intent has too few examples to appear in every fold."""
        from scipy.optimize import minimize_scalar
        from sklearn.model_selection import StratifiedKFold

        folds = int(self._config["calibration_folds"])
        classes, targets = np.unique(labels, return_inverse=True)
        if folds < 2 or np.bincount(targets).min() < folds:
            return 1.0
        scores = np.zeros((len(labels), len(classes)))
        splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(features, targets)
        for train, held_out in splits:
            model = self._fit(features[train], targets[train])
            scores[held_out] = _class_scores(model.decision_function(features[held_out]))

        def log_loss(temperature: float) -> float:
            return -float(np.log(_softmax(scores * temperature)[np.arange(len(targets)), targets] + 1e-12).mean())

        return float(minimize_scalar(log_loss, bounds=(0.1, 100.0), method="bounded").x)

    def process(self, messages: List[Message]) -> List[Message]:
        if self.weights is None:
            return messages
        probabilities = self.probabilities(messages)
        for message, row in zip(messages, probabilities):
            order = np.argsort(-row)
            ranking = [{"name": self.classes[i], "confidence": float(row[i])} for i in order[:LABEL_RANKING_LENGTH]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def probabilities(self, messages: List[Message]) -> np.ndarray:
        scores = np.asarray(self._features(messages) @ self.weights.T) + self.bias
        return _softmax(_class_scores(scores) * self.temperature)

    # --- features ---------------------------------------------------------------------------------------------

    @staticmethod
    def _sentence_features(message: Message) -> Dict[str, Any]:
        return {
            f.origin: f.features
            for f in message.features
            if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE
        }

    def _layout(self, examples: List[Message]) -> List[Tuple[str, int, bool]]:
        """Each featurizer's sentence features: (origin, width, sparse), in a fixed order."""
        layout: Dict[str, Tuple[str, int, bool]] = {}
        for message in examples:
            for origin, matrix in self._sentence_features(message).items():
                layout[origin] = (origin, matrix.shape[-1], scipy.sparse.issparse(matrix))
        return [layout[origin] for origin in sorted(layout)]

    def _block(self, messages: List[Message], block: Block) -> scipy.sparse.csr_matrix:
        rows = []
        for message in messages:
            matrix = self._sentence_features(message).get(block.origin)
            if matrix is None or matrix.shape[-1] != block.width:
                rows.append(scipy.sparse.csr_matrix((1, block.width), dtype=np.float32))
            else:
                rows.append(scipy.sparse.csr_matrix(matrix, dtype=np.float32))
        return scipy.sparse.vstack(rows, format="csr")

    def _features(self, messages: List[Message]) -> scipy.sparse.csr_matrix:
        return self._scaled([self._block(messages, block) for block in self.blocks])

    def _scaled(self, matrices: List[scipy.sparse.csr_matrix]) -> scipy.sparse.csr_matrix:
        """One row per message: each block of ``matrices`` (in ``self.blocks``' order) scaled as its block says."""
        scaled = []
        for block, matrix in zip(self.blocks, matrices):
            if block.idf is not None:
                matrix.data = np.log(np.maximum(matrix.data, 1.0)) + 1  # sublinear term frequency
                matrix = _unit_rows(matrix.multiply(block.idf).tocsr())
            else:
                matrix = _unit_rows(matrix) * float(self._config["dense_weight"])
            scaled.append(matrix)
        return scipy.sparse.hstack(scaled, format="csr")

    # --- storage ----------------------------------------------------------------------------------------------

    def _persist(self) -> None:
        arrays = {"classes": np.array(self.classes), "weights": self.weights, "bias": self.bias,
                  "temperature": np.array(self.temperature),
                  "origins": np.array([b.origin for b in self.blocks]),
                  "widths": np.array([b.width for b in self.blocks])}
        for index, block in enumerate(self.blocks):
            if block.idf is not None:
                arrays[f"idf_{index}"] = block.idf
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / MODEL_FILE, **arrays)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LinearIntentClassifier":
        try:
            with model_storage.read_from(resource) as directory:
                with np.load(directory / MODEL_FILE, allow_pickle=False) as stored:
                    blocks = [
                        Block(str(origin), int(width), stored[f"idf_{i}"] if f"idf_{i}" in stored else None)
                        for i, (origin, width) in enumerate(zip(stored["origins"], stored["widths"]))
                    ]
                    return cls(config, model_storage, resource, blocks, [str(c) for c in stored["classes"]],
                               stored["weights"], stored["bias"],
                               float(stored["temperature"]) if "temperature" in stored else 1.0)
        except (ValueError, FileNotFoundError):
            logger.warning("The intent classifier has no trained model in this model file: it predicts nothing.")
            return cls(config, model_storage, resource)


def _class_scores(scores: np.ndarray) -> np.ndarray:
    """One column per class: scikit-learn keeps a single column of scores for two classes (the second's)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    return np.column_stack([-scores[:, 0], scores[:, 0]]) if scores.shape[1] == 1 else scores


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def _idf(counts: scipy.sparse.csr_matrix) -> np.ndarray:
    """Smoothed inverse document frequency of each column (scikit-learn's formula)."""
    document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1).astype(np.float32)


def _unit_rows(matrix: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    return scipy.sparse.diags(1.0 / norms).dot(matrix).tocsr()
