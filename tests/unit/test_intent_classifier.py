"""The sentence featurizer and the linear intent classifier, trained for real on a small data set."""
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.linear_intent_classifier import LinearIntentClassifier
from bot.nlu import sentence_featurizer
from bot.nlu.sentence_featurizer import RecentEmbeddings, SentenceEmbeddingFeaturizer, embed
from bot.nlu.tokenizer import MultilingualTokenizer
from bot.nlu.word_count_featurizer import WordCountVectorsFeaturizer

EXAMPLES = {
    "check_stock": ["how many shirts are in stock", "stock of rice at anna nagar", "is there any sugar left",
                    "kitna chawal bacha hai", "¿cuánto arroz queda en la tienda?", "அரிசி எவ்வளவு இருக்கு"],
    "goodbye": ["bye", "see you later", "good night", "phir milenge", "adiós, hasta luego", "போயிட்டு வரேன்"],
    "request_human": ["I want to talk to a person", "connect me to an agent", "kisi insaan se baat karao",
                      "quiero hablar con una persona", "ஒரு மனிதரிடம் பேச வேண்டும்", "real human please"],
}


def context(name):
    return ExecutionContext(GraphSchema({}), node_name=name)


def training_data(examples):
    return TrainingData([Message(data={"text": text, "intent": intent})
                         for intent, texts in examples.items() for text in texts])


def train_pipeline(storage, examples):
    """Tokenizer, character and word n-grams, sentence embeddings, and the classifier, trained and reloaded
    from the model storage as a served model would be."""
    tokenizer = MultilingualTokenizer.create({**MultilingualTokenizer.get_default_config()}, storage,
                                             Resource("tok"), context("tok"))
    featurizers = [
        kind.create({**kind.get_default_config(), **extra}, storage, Resource(name), context(name))
        for kind, name, extra in (
            (CountVectorsFeaturizer, "chars", {"analyzer": "char_wb", "min_ngram": 2, "max_ngram": 5}),
            (WordCountVectorsFeaturizer, "words", {"max_ngram": 2}),
        )
    ]
    embedder = SentenceEmbeddingFeaturizer.create({**SentenceEmbeddingFeaturizer.get_default_config()}, storage,
                                                  Resource("e5"), context("e5"))
    data = training_data(examples)
    tokenizer.process_training_data(data)
    for featurizer in featurizers:
        featurizer.train(data)
        featurizer.process_training_data(data)
    embedder.process_training_data(data)
    config = {**LinearIntentClassifier.get_default_config()}
    resource = LinearIntentClassifier.create(config, storage, Resource("clf"), context("clf")).train(data)
    classifier = LinearIntentClassifier.load(config, storage, resource, context("clf"))

    def parse(text):
        message = Message(data={"text": text})
        for component in [tokenizer, *featurizers, embedder, classifier]:
            component.process([message])
        return message
    return SimpleNamespace(parse=parse, classifier=classifier)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return train_pipeline(LocalModelStorage(tmp_path_factory.mktemp("model")), EXAMPLES)


def test_embeddings_are_unit_vectors_that_carry_meaning_across_languages():
    vectors = embed(["the watch stopped charging", "el reloj ya no carga", "what is the price of rice"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_the_encoder_runs_on_one_openmp_thread_in_every_calling_thread():
    engine = sentence_featurizer.encoder()._lib
    seen = []

    def worker():
        engine.omp_set_num_threads(4)  # what libgomp's default would be on a 4-core machine
        embed(["where is my order"])
        seen.append(engine.omp_get_max_threads())
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [1]


def test_recent_embeddings_keep_the_last_distinct_texts():
    recent = RecentEmbeddings(2)
    for text in ("hi", "ok", "hi", "yes"):  # "hi" used again, so "ok" is the oldest when "yes" comes
        recent.put(text, np.full(2, len(text), dtype=np.float32))
    assert len(recent) == 2 and recent.get("ok") is None
    assert recent.get("hi") is not None and recent.get("yes") is not None


def test_a_repeated_message_is_not_embedded_again(monkeypatch):
    calls = []

    def counting_embed(texts):
        calls.append(list(texts))
        return embed(texts)
    monkeypatch.setattr(sentence_featurizer, "_recent", RecentEmbeddings(8))
    monkeypatch.setattr(sentence_featurizer, "embed", counting_embed)
    featurizer = SentenceEmbeddingFeaturizer.create({**SentenceEmbeddingFeaturizer.get_default_config()}, None,
                                                    Resource("e5"), context("e5"))
    first, again = Message(data={"text": "is the watch waterproof"}), Message(data={"text": "is the watch waterproof"})
    featurizer.process([first])
    featurizer.process([again])
    assert calls == [["is the watch waterproof"]]
    assert np.array_equal(first.features[0].features, again.features[0].features)


def test_the_featurizer_adds_one_sentence_vector(pipeline):
    message = pipeline.parse("hello")
    dense = [f for f in message.features if f.origin == "e5"]
    assert [(f.type, f.features.shape) for f in dense] == [("sentence", (1, 384))]


@pytest.mark.parametrize("text, intent", [
    ("how much sugar is in stock", "check_stock"),
    ("bye bye, see you", "goodbye"),
    ("can I speak to a human", "request_human"),
    ("कितना चावल बचा है", "check_stock"),  # Hindi in native script: no such example, the embedding carries it
])
def test_the_reloaded_classifier_ranks_every_intent_with_probabilities(pipeline, text, intent):
    message = pipeline.parse(text)
    ranking = message.get("intent_ranking")
    assert message.get("intent")["name"] == intent
    assert {entry["name"] for entry in ranking} == set(EXAMPLES)
    assert sum(entry["confidence"] for entry in ranking) == pytest.approx(1.0, abs=1e-4)
    assert [entry["confidence"] for entry in ranking] == sorted((e["confidence"] for e in ranking), reverse=True)


def test_a_message_without_any_n_gram_features_is_still_classified(pipeline):
    message = pipeline.parse("!!!")
    assert message.get("intent")["name"] in EXAMPLES


def test_an_untrained_classifier_predicts_nothing(tmp_path):
    storage = LocalModelStorage(tmp_path)
    classifier = LinearIntentClassifier.load({**LinearIntentClassifier.get_default_config()}, storage,
                                             Resource("missing"), context("clf"))
    message = Message(data={"text": "hello"})
    classifier.process([message])
    assert message.get("intent") is None


def test_the_scores_become_probabilities_at_a_fitted_temperature(pipeline):
    """The temperature comes from cross-validation within the training data and is stored with the model
    (the fixture's classifier is the one reloaded from storage, and an unfitted one would be 1.0)."""
    assert pipeline.classifier.temperature > 2.0
    clear = pipeline.parse("how much rice is left in stock").get("intent")
    unrelated = pipeline.parse("what is the capital of France").get("intent")
    assert clear["name"] == "check_stock" and clear["confidence"] > 0.9
    assert unrelated["confidence"] < clear["confidence"]


def test_two_intents_are_ranked_with_probabilities(tmp_path):
    two = {intent: EXAMPLES[intent] for intent in ("goodbye", "request_human")}
    pipeline = train_pipeline(LocalModelStorage(tmp_path), two)
    for text, intent in (("bye, see you tomorrow", "goodbye"), ("put me through to a human agent", "request_human")):
        ranking = pipeline.parse(text).get("intent_ranking")
        assert [entry["name"] for entry in ranking][0] == intent
        assert sum(entry["confidence"] for entry in ranking) == pytest.approx(1.0, abs=1e-4)

