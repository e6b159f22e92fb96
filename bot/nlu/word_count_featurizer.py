"""Rasa's CountVectorsFeaturizer, counting the tokenizer's words whole.

With ``analyzer: word`` Rasa joins a message's tokens with spaces and lets scikit-learn split them again with
the pattern ``\\b\\w+\\b``. Python's ``\\w`` does not match the vowel signs of Devanagari and Tamil, so that
split shreds "शिकायत" into "श" and "कायत" and "டிக்கெட்" into "ட", "க", "க", "ட": the word features of Hindi
and Tamil were mostly single consonants. The tokenizer has already found the words (and dropped
punctuation); this featurizer splits the joined tokens at whitespace only.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from sklearn.feature_extraction.text import CountVectorizer

WHOLE_TOKENS = r"(?u)\S+"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class WordCountVectorsFeaturizer(CountVectorsFeaturizer):
    @classmethod
    def _create_shared_vocab_vectorizers(
        cls, parameters: Dict[Text, Any], vocabulary: Optional[Any] = None
    ) -> Dict[Text, CountVectorizer]:
        return _whole_tokens(super()._create_shared_vocab_vectorizers(parameters, vocabulary))

    @classmethod
    def _create_independent_vocab_vectorizers(
        cls, parameters: Dict[Text, Any], vocabulary: Optional[Any] = None
    ) -> Dict[Text, CountVectorizer]:
        return _whole_tokens(super()._create_independent_vocab_vectorizers(parameters, vocabulary))


def _whole_tokens(vectorizers: Dict[Text, CountVectorizer]) -> Dict[Text, CountVectorizer]:
    for vectorizer in vectorizers.values():
        if vectorizer.analyzer == "word":
            vectorizer.token_pattern = WHOLE_TOKENS
    return vectorizers
