"""Word counts over the tokenizer's whole words, in every script, trained and reloaded as a served model."""
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.tokenizer import MultilingualTokenizer
from bot.nlu.word_count_featurizer import WordCountVectorsFeaturizer

TEXTS = ["मेरी शिकायत का क्या हुआ", "என் டிக்கெட் என்ன ஆச்சு", "¿qué pasó con mi queja?", "close my ticket"]


def tokenized(texts):
    tokenizer = MultilingualTokenizer({**MultilingualTokenizer.get_default_config()})
    messages = [Message(data={"text": text, "intent": "any"}) for text in texts]
    data = TrainingData(messages)
    tokenizer.process_training_data(data)
    return data


def vocabulary(kind, tmp_path):
    storage = LocalModelStorage(tmp_path)
    config = {**kind.get_default_config(), "max_ngram": 2}
    context = ExecutionContext(GraphSchema({}), node_name="words")
    resource = kind.create(config, storage, Resource("words"), context).train(tokenized(TEXTS))
    loaded = kind.load(config, storage, resource, context)
    message = tokenized(["मेरी शिकायत"]).training_examples[0]
    loaded.process([message])
    (sentence,) = [f for f in message.features if f.attribute == "text" and f.type == "sentence"]
    return set(loaded.vectorizers["text"].vocabulary_), sentence.features.sum()


def test_hindi_and_tamil_words_are_counted_whole_after_reloading(tmp_path):
    words, counted = vocabulary(WordCountVectorsFeaturizer, tmp_path)
    assert {"शिकायत", "டிக்கெட்", "qué", "pasó", "close my", "मेरी शिकायत", "என் டிக்கெட்"} <= words
    assert not {"श", "कायत", "ட", "க"} & words
    assert counted == 3  # "मेरी", "शिकायत" and the pair


def test_rasa_own_word_counts_shred_them(tmp_path):
    """Why the subclass exists: if Rasa's featurizer ever keeps words whole, drop it."""
    words, _ = vocabulary(CountVectorsFeaturizer, tmp_path)
    assert "शिकायत" not in words and "श" in words
