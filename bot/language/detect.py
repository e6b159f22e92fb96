"""Language identification for chat messages.

Decides in three steps, cheapest first:
1. the script: Tamil or Devanagari letters say Tamil or Hindi outright (lingua confuses Hindi with
   Marathi on short text), and so do the other Indic scripts, Hangul, kana, Han;
2. romanized Hindi and Tamil: lingua has no model for them and calls them English or Indonesian, so
   words are looked up in lexicons of romanized Hindi, romanized Tamil and English chat words;
3. lingua, restricted to the Latin-script languages we care about, for English, Spanish and the rest.

``Detection.reliable`` says whether the message is long and clear enough to override the language a
user has stored; a one-word "ok" is not.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.language.scripts import dominant_script

LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"

# Scripts that name their language outright.
_SCRIPT_LANGUAGE = {
    "Tamil": "ta",
    "Bengali": "bn",
    "Gurmukhi": "pa",
    "Gujarati": "gu",
    "Oriya": "or",
    "Telugu": "te",
    "Kannada": "kn",
    "Malayalam": "ml",
    "Thai": "th",
    "Hangul": "ko",
    "Kana": "ja",
    "Han": "zh",
    "Greek": "el",
    "Hebrew": "he",
    "Devanagari": "hi",
    "Arabic": "ar",
    "Cyrillic": "ru",
}
# Scripts shared by several languages: lingua chooses among these, the first one being the default.
_SCRIPT_CANDIDATES = {
    "Devanagari": ("hi", "mr"),
    "Arabic": ("ar", "ur", "fa"),
    "Cyrillic": ("ru", "uk", "bg"),
}
# Kept short on purpose: Tagalog, Swahili, Indonesian and Turkish attract romanized Hindi and Tamil.
LATIN_CANDIDATES = ("en", "es", "fr", "de", "pt", "it", "nl")

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


@dataclass(frozen=True)
class Detection:
    language: str | None
    confidence: float
    reliable: bool
    script: str | None = None

    def as_dict(self) -> dict:
        return {
            "code": self.language,
            "confidence": round(self.confidence, 3),
            "reliable": self.reliable,
            "script": self.script,
        }


UNDETERMINED = Detection(None, 0.0, False, None)


@lru_cache(maxsize=None)
def lexicon(name: str) -> frozenset[str]:
    path = LEXICON_DIR / f"{name}.txt"
    if not path.exists():
        return frozenset()
    words = (line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))


@lru_cache(maxsize=1)
def _lingua():
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    codes = set(LATIN_CANDIDATES)
    for candidates in _SCRIPT_CANDIDATES.values():
        codes.update(candidates)
    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in sorted(codes)]
    return LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()


def warm_up() -> None:
    """Load lingua's models and the lexicons now rather than on the first message."""
    _lingua()
    for name in ("en", "es", "hi-Latn", "ta-Latn"):
        lexicon(name)


def _lingua_scores(text: str, candidates: tuple[str, ...]) -> list[tuple[str, float]]:
    values = _lingua().compute_language_confidence_values(text)
    scores = [(v.language.iso_code_639_1.name.lower(), v.value) for v in values]
    scores = [(code, value) for code, value in scores if code in candidates]
    total = sum(value for _, value in scores) or 1.0
    return sorted(((code, value / total) for code, value in scores), key=lambda s: -s[1])


def _romanized(words: list[str], ignored: frozenset[str] | set[str] = frozenset()) -> tuple[str | None, float, float]:
    """The romanized Indian language the words look like, its share of the words, and English's share.
    ``ignored`` words count as words but vote for no language."""
    english, hindi, tamil = lexicon("en"), lexicon("hi-Latn"), lexicon("ta-Latn")
    scores = {"hi-Latn": 0.0, "ta-Latn": 0.0}
    english_only = 0
    for word in words:
        if word in ignored:
            continue
        in_english = word in english
        for code, words_of in (("hi-Latn", hindi), ("ta-Latn", tamil)):
            if word in words_of:
                scores[code] += 0.5 if in_english else 1.0
        if in_english and word not in hindi and word not in tamil:
            english_only += 1
    best = max(scores, key=scores.get)
    if scores[best] == 0 or scores["hi-Latn"] == scores["ta-Latn"]:
        return None, 0.0, english_only / len(words)
    return best, scores[best] / len(words), english_only / len(words)


# Place names of the shop's city say nothing about the writer's language ("anna" is also Tamil for brother,
# "nagar" is in every language's messages about the Anna Nagar and T. Nagar stores).
_PLACES = re.compile(r"\b(?:anna|t\.?|thyagaraya|ashok|kk)\s*nagar\b|\b(?:chennai|ambattur|usman\s+road)\b", re.IGNORECASE)


# Spanish words that are also common romanized Tamil or Hindi words ("en": in / my, "la": the / in).
_SPANISH_FUNCTION_WORDS = frozenset({"en", "la", "le", "me", "se", "te", "mi", "de", "del", "los", "las"})


def detect(text: str) -> Detection:
    text = _PLACES.sub(" ", (text or "")).strip()
    script, share = dominant_script(text)
    if script is None:
        return UNDETERMINED
    if script != "Latin":
        return _detect_by_script(text, script, share)
    words = [w.lower() for w in _WORD.findall(text) if script_of_word(w) == "Latin"]
    if not words:
        return UNDETERMINED
    return _detect_latin(text, words, share)


def script_of_word(word: str) -> str | None:
    return dominant_script(word)[0]


def _detect_by_script(text: str, script: str, share: float) -> Detection:
    language = _SCRIPT_LANGUAGE.get(script)
    candidates = _SCRIPT_CANDIDATES.get(script)
    if candidates:
        scores = _lingua_scores(text, candidates)
        default = candidates[0]
        # Short Devanagari text is far more often Hindi than Marathi here: switch only on a clear margin.
        if scores and scores[0][0] != default and scores[0][1] >= 0.8 and len(text.split()) >= 4:
            language = scores[0][0]
        else:
            language = default
    return Detection(language, share, reliable=share >= 0.6, script=script)


def _detect_latin(text: str, words: list[str], share: float) -> Detection:
    spanish = lexicon("es")
    if "¿" in text or "¡" in text or sum(word in spanish for word in words) / len(words) >= 0.3:
        # Words that are also romanized Tamil or Hindi ("en": in / my) do not make a Spanish message Tamil.
        ignored = {w for w in words if w in spanish or w in _SPANISH_FUNCTION_WORDS}
        romanized, romanized_share, english_share = _romanized(words, ignored)
    else:
        romanized, romanized_share, english_share = _romanized(words)
    # One distinctly Hindi or Tamil word ("podu", "chahiye") in a code-mixed message is strong evidence:
    # an English or Spanish writer would not use it.
    if romanized and romanized_share * len(words) >= 1 and romanized_share >= 0.25:
        reliable = len(words) >= 3 or (len(words) == 2 and romanized_share >= 1.0)
        return Detection(romanized, min(1.0, romanized_share + 0.3) * share, reliable=reliable, script="Latin")
    spanish_share = sum(word in spanish for word in words) / len(words)
    if spanish_share >= 0.5 and spanish_share > english_share:
        # lingua hesitates on one or two Spanish words ("hola", "gracias amigo"); the lexicon does not.
        return Detection("es", spanish_share * share, reliable=len(words) >= 3, script="Latin")
    scores = _lingua_scores(text, LATIN_CANDIDATES)
    if not scores:
        return Detection("en", 0.0, False, "Latin")
    best, value = scores[0]
    margin = value - (scores[1][1] if len(scores) > 1 else 0.0)
    if best != "en" and english_share >= 0.6:
        best, value, margin = "en", english_share, english_share
    if best == "en" and english_share >= 0.5:
        margin = max(margin, english_share)
    reliable = len(words) >= 3 and margin >= 0.2
    if best not in ("en", "es"):
        # Another Latin-script language must be unmistakable before we translate it or refuse it.
        reliable = reliable and len(words) >= 4 and value >= 0.7 and romanized is None
    return Detection(best, value * share, reliable=reliable, script="Latin")
