"""Retrieval over the knowledge base: Okapi BM25 on character n-grams and words, in every language at once.

Each article contributes, per language, one passage of its title, keywords and body, and one passage per
alternative phrasing of the question it answers. Character n-grams inside
words carry the matching across spelling variants, case endings and typos ("deliveryku", "delivary"), which
matters most for romanized Hindi and Tamil; whole words keep precision. A question's article score is the
best of its passages. Confidence is the top score relative to what a question of that length can
score and to the runner-up, so a question that matches nothing well, or two articles equally, is reported as
unsure rather than answered.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

# Python's \\w leaves out Indic vowel signs and viramas (category M): words of those scripts need their blocks.
WORD = re.compile(r"[\w\u0900-\u0DFF\u200c\u200d]+", re.UNICODE)
NGRAM_SIZES = (3, 4, 5)
K1 = 1.2
B = 0.75
TITLE_WEIGHT = 2
KEYWORD_WEIGHT = 2

# Words too common in questions to tell articles apart, in the native languages (English, Spanish, romanized
# Hindi and Tamil; Devanagari and Tamil script function words are short and weigh little anyway).
STOPWORDS = frozenset(
    """
    a an the is are was were be been am do does did i me my you your we our it its to of in on at for with and or
    how what when where why which who can could will would should please pls hi hello there this that these those
    if so not no yes any some get got have has had from by about
    el la los las un una es son de del en y o que qué como cómo cuando cuándo donde dónde por para con mi mis su
    se lo le me te puedo puede hay al
    kya kaise kab kahan kyun hai hain ho tha the mera meri mere mujhe aap aapka apna ka ki ke ko se me mein par
    bhi to na nahi hi ye yeh wo woh kar karo karna
    enna eppadi eppo enga en enakku naan unga ungal neenga oda la le ku kku ah aa thaan dhaan irukku iruku panna
    pannanum sollunga
    """.split()
)


def tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text).casefold()
    return [word for word in WORD.findall(text) if word not in STOPWORDS]


def features(text: str) -> list[str]:
    """Word features ("w:refund") and in-word character n-grams ("c:efu") of a text."""
    out = []
    for word in tokens(text):
        out.append("w:" + word)
        padded = f"<{word}>"
        for size in NGRAM_SIZES:
            out.extend("c:" + padded[i:i + size] for i in range(len(padded) - size + 1))
    return out


@dataclass(frozen=True)
class Document:
    article_id: int
    language: str
    title: str
    body: str
    keywords: Sequence[str] = ()
    questions: Sequence[str] = ()

    def passages(self) -> list[list[str]]:
        """The feature lists this article text is searched as."""
        keywords = " ".join(self.keywords)
        text = features(self.title) * TITLE_WEIGHT + features(keywords) * KEYWORD_WEIGHT + features(self.body)
        return [text] + [features(question) for question in self.questions]


@dataclass(frozen=True)
class Hit:
    article_id: int
    score: float
    confidence: float


def _grams(word: str) -> set[str]:
    padded = f"<{word}>"
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


class KbIndex:
    """An immutable index; build a new one when articles change.

    Scoring is BM25 per passage with an *article-level* IDF (a feature found in every article, such as a
    function word of any language, weighs nothing); an article scores the sum of its two best passages.
    Confidence multiplies three things in [0, 1]: how much of what the question could score the best article
    scores (coverage), how far ahead of the runner-up it is (margin), and how much of the question's
    vocabulary, weighted by rarity, the best article knows at all (a question about "trial rooms" finds the
    shop-hours article on "shop", but neither "trial" nor "rooms" is in it).
    """

    FUZZY_MATCH = 0.6  # Dice similarity of character trigrams for a word to count as known

    def __init__(self, documents: Iterable[Document]) -> None:
        self.documents = list(documents)
        self._owners: list[int] = []
        self._vectors: list[Counter] = []
        vocabulary: dict[int, set[str]] = defaultdict(set)
        for document in self.documents:
            for passage in document.passages():
                self._owners.append(document.article_id)
                self._vectors.append(Counter(passage))
            for text in (document.title, document.body, *document.keywords, *document.questions):
                vocabulary[document.article_id].update(tokens(text))
        self._lengths = [sum(v.values()) for v in self._vectors]
        self._average = (sum(self._lengths) / len(self._lengths)) if self._lengths else 1.0
        by_article: dict[int, set[str]] = defaultdict(set)
        for owner, vector in zip(self._owners, self._vectors):
            by_article[owner].update(vector.keys())
        articles = len(by_article)
        frequency = Counter(f for found in by_article.values() for f in found)
        self._idf = {f: math.log(articles / df) for f, df in frequency.items()}
        self._postings: dict[str, list[int]] = defaultdict(list)
        for index, vector in enumerate(self._vectors):
            for feature in vector:
                self._postings[feature].append(index)
        self._vocabulary = dict(vocabulary)
        self._articles = articles
        self._word_df = Counter(w for words in vocabulary.values() for w in words)
        self._gram_index: dict[str, set[str]] = defaultdict(set)
        for word in self._word_df:
            for gram in _grams(word):
                self._gram_index[gram].add(word)
        self._near_cache: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self.documents)

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        """The best articles for ``question``, best first, with a confidence in [0, 1]."""
        query = Counter(features(question))
        if not query or not self.documents:
            return []
        scores: dict[int, float] = defaultdict(float)
        for feature, count in query.items():
            idf = self._idf.get(feature)
            if not idf:
                continue
            for index in self._postings[feature]:
                tf = self._vectors[index][feature]
                norm = K1 * (1 - B + B * self._lengths[index] / self._average)
                scores[index] += count * idf * tf * (K1 + 1) / (tf + norm)
        passages: dict[int, list[float]] = defaultdict(list)
        for index, score in scores.items():
            passages[self._owners[index]].append(score)
        ranked = sorted(
            ((article_id, sum(sorted(found, reverse=True)[:2])) for article_id, found in passages.items()),
            key=lambda item: -item[1],
        )
        if not ranked:
            return []
        ceiling = sum(count * self._idf[f] for f, count in query.items() if self._idf.get(f))
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        words = tokens(question)
        hits = []
        for position, (article_id, score) in enumerate(ranked[:limit]):
            coverage = min(1.0, score / ceiling) if ceiling else 0.0
            margin = 1.0 - runner_up / score if position == 0 and score else 0.0
            known = self._known_share(words, article_id)
            hits.append(Hit(article_id, score, round(known * math.sqrt(coverage * margin), 4)))
        return hits

    def _known_share(self, words: list[str], article_id: int) -> float:
        """The rarity-weighted share of ``words`` that the article's own vocabulary contains (fuzzily)."""
        vocabulary = self._vocabulary.get(article_id, set())
        total = found = 0.0
        for word in words:
            near = self._near(word)
            df = min((self._word_df[w] for w in near), default=0)
            weight = math.log((self._articles + 1) / (1 + df)) + (0.0 if near else 1.0)
            total += weight
            if any(w in vocabulary for w in near):
                found += weight
        return found / total if total else 0.0

    def _near(self, word: str) -> tuple[str, ...]:
        """Words of the knowledge base that ``word`` is, or is a likely spelling of."""
        cached = self._near_cache.get(word)
        if cached is not None:
            return cached
        if word in self._word_df:
            near: tuple[str, ...] = (word,)
        else:
            grams = _grams(word)
            shared: Counter = Counter()
            for gram in grams:
                shared.update(self._gram_index.get(gram, ()))
            near = tuple(
                w for w, count in shared.items() if 2 * count / (len(grams) + len(_grams(w))) >= self.FUZZY_MATCH
            )
        if len(self._near_cache) < 100_000:
            self._near_cache[word] = near
        return near
