"""Tokenizer for every script Sahayak sees, on spaCy's language-neutral (`xx`) tokenizer.

Rasa's WhitespaceTokenizer splits Devanagari and Tamil words at their vowel signs (Python's ``\\w`` does not
match combining marks); spaCy's tokenizer keeps them whole and needs no downloaded model. Punctuation is
dropped, emoji are kept (a 👍 means yes). With ``lemmas`` set, tokens of messages identified as one of those
languages get lookup lemmas from spacy-lookups-data.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.language_identifier import LANGUAGE


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class MultilingualTokenizer(Tokenizer):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
            "lemmas": [],
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        import spacy

        super().__init__(config)
        self._nlp = spacy.blank("xx")
        self._lemmas: Dict[str, Any] = {}
        for language in config.get("lemmas") or []:
            from spacy.lookups import load_lookups

            self._lemmas[language] = load_lookups(language, ["lemma_lookup"]).get_table("lemma_lookup")

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "MultilingualTokenizer":
        return cls(config)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        text = message.get(attribute) or ""
        table = self._lemma_table(message)
        tokens = []
        for word in self._nlp.make_doc(text):
            if word.is_space or word.is_punct:
                continue
            lowered = word.text.lower()
            lemma = table.get(lowered, lowered) if table is not None else lowered
            tokens.append(Token(word.text, word.idx, lemma=lemma))
        return self._apply_token_pattern(tokens)

    def _lemma_table(self, message: Message) -> Optional[Any]:
        if not self._lemmas:
            return None
        code = (message.get(LANGUAGE) or {}).get("code")
        return self._lemmas.get(code)
