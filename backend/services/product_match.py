"""Finding the product a chat message names, against the live catalogue (no training): any native language,
native script or Latin letters, typos included.

Every name and alias of every product is a candidate. The message is cut into windows of one to four words,
and each window is compared with each candidate by RapidFuzz (character-level similarity, so "basmti",
"chaval" and "பாஸ்மதி" all work); a product scores its best window. The best product is the answer when it is
clearly ahead; products close behind it are offered as choices (the two blue kurtas, size M and L), and a
message that matches nothing well gets the closest names as suggestions.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from rapidfuzz import fuzz, process

from backend.services.kb_search import WORD
from backend.services.ticket_text import ascii_digits

MATCH_THRESHOLD = 80.0  # below this the best product is only a suggestion
AMBIGUITY_MARGIN = 3.0  # products this close to the best are offered as choices
MAX_WINDOW = 4
# Words that never name a product: quantities, units and the commonest chat words, in every native language.
NOISE = frozenset(
    """
    how many much is are the a an of in at do we have any stock left available received sold set got please pls
    kg kilo kilos g gram grams litre liter litres ml bag bags packet packets pack pcs piece pieces bottle bottles
    jar jars pouch pouches box boxes set sets
    cuantos cuántos cuantas cuántas hay de en el la los las un una quedan
    kitne kitna kitni hai hain me mein ka ki ke ko stock bacha bache
    evlo evvalavu irukku iruku la le oda ethana
    कितने कितना कितनी है हैं में का की के को किलो पैकेट बैग
    எவ்வளவு எத்தனை இருக்கு கிலோ பாக்கெட் மூட்டை
    """.split()
)


@dataclass(frozen=True)
class Candidate:
    product_id: int
    text: str  # a name or alias as written in the catalogue
    normalized: str


@dataclass(frozen=True)
class Match:
    product_id: int
    score: float
    matched: str  # the catalogue name that matched


@dataclass(frozen=True)
class Result:
    best: Optional[Match]  # the product, when it is clear
    choices: tuple[Match, ...]  # several products fit about equally well: ask which
    suggestions: tuple[Match, ...]  # nothing fits well: the closest ones


def normalize(text: str) -> str:
    text = ascii_digits(unicodedata.normalize("NFC", text)).casefold()
    return " ".join(WORD.findall(text))


COVERAGE_WEIGHT = 20.0  # how much covering every word of the message adds to the best window's score
GENERIC_PRODUCTS = 3  # a word in this many products' names ("powder", "kid") does not name one on its own
WORD_MATCH = 80.0


class ProductIndex:
    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self.candidates = [c for c in candidates if c.normalized]
        self._texts = [c.normalized for c in self.candidates]
        self._words: dict[int, set[str]] = {}
        for candidate in self.candidates:
            self._words.setdefault(candidate.product_id, set()).update(candidate.normalized.split())
        frequency: dict[str, int] = {}
        for words in self._words.values():
            for word in words:
                frequency[word] = frequency.get(word, 0) + 1
        self._generic = {word for word, count in frequency.items() if count >= GENERIC_PRODUCTS}

    def _coverage(self, words: Sequence[str], product_id: int) -> float:
        return _coverage_of(words, self._words.get(product_id, set()))

    @classmethod
    def of(cls, names: Iterable[tuple[int, str]]) -> "ProductIndex":
        """From (product id, name) pairs."""
        return cls(Candidate(product_id, name, normalize(name)) for product_id, name in names)

    def find(self, message: str, limit: int = 5) -> Result:
        words = normalize(message).split()
        content = [w for w in words if w not in NOISE and not w.isdigit()] or words
        windows = [w for w in _windows(content) if " " in w or w not in self._generic]
        best: dict[int, Match] = {}
        for window in windows:
            for text, score, index in process.extract(window, self._texts, scorer=_score, limit=10):
                candidate = self.candidates[index]
                if candidate.product_id not in best or score > best[candidate.product_id].score:
                    best[candidate.product_id] = Match(candidate.product_id, float(score), candidate.text)
        if not best:
            return Result(None, (), ())
        if max(m.score for m in best.values()) < MATCH_THRESHOLD:
            ranked = sorted(best.values(), key=lambda m: (-m.score, m.product_id))
            return Result(None, (), tuple(ranked[:3]))
        # Among good matches, the product whose names account for more of the message wins ("kurta large").
        ranked = sorted(
            (Match(m.product_id, m.score + COVERAGE_WEIGHT * self._coverage(content, m.product_id), m.matched)
             for m in best.values()),
            key=lambda m: (-m.score, m.product_id),
        )[:limit]
        top = ranked[0]
        close = tuple(m for m in ranked if top.score - m.score <= AMBIGUITY_MARGIN)
        if len(close) > 1:
            return Result(None, close, ())
        return Result(top, (), ())


def index_for(session) -> ProductIndex:
    """The index of the active products' names and aliases as they are in the database now."""
    from sqlalchemy import select

    from backend.models import Product, ProductName

    rows = session.execute(
        select(ProductName.product_id, ProductName.name).join(Product).where(Product.active.is_(True))
    ).all()
    return ProductIndex.of((row.product_id, row.name) for row in rows)


def _coverage_of(words: Sequence[str], vocabulary: set[str]) -> float:
    if not words:
        return 0.0
    hits = sum(1 for w in words if w in vocabulary or process.extractOne(w, vocabulary, scorer=fuzz.ratio,
                                                                          score_cutoff=WORD_MATCH))
    return hits / len(words)


def _windows(words: Sequence[str]) -> list[str]:
    return [" ".join(words[i:i + size]) for size in range(1, MAX_WINDOW + 1) for i in range(len(words) - size + 1)]


def _score(query: str, choice: str, **_: object) -> float:
    """Similarity 0-100: the full strings, or the words in any order; a query word for word inside a longer
    name ("basmati" in "basmati rice 5 kg") counts nearly as much."""
    whole = fuzz.ratio(query, choice)
    ordered = fuzz.token_sort_ratio(query, choice)
    inside = fuzz.partial_ratio(query, choice) * 0.95 if len(query) >= 4 else 0.0
    return max(whole, ordered, inside)

