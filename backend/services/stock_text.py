"""Reading stock messages in every native language: quantities (digits of any script, number words), what
happened (received, sold, counted, reorder point), units and locations. The words are data:
``backend/retail_data/stock_words.yml``."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml

from backend.services.kb_search import WORD
from backend.services.ticket_text import ascii_digits

WORDS_FILE = Path(__file__).resolve().parent.parent / "retail_data" / "stock_words.yml"
KINDS = ("received", "sold", "counted", "reorder")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,7})(?![\d])")
# Words that ask what is running low, in every native language.
LOW_WORDS = (
    "low", "running out", "running low", "reorder", "finishing", "out of stock",
    "kam", "khatam", "kam pad", "कम", "खत्म", "ख़त्म",
    "kammi", "kammiya", "theera", "theerndhu", "குறைவ", "கம்மி", "தீர",
    "bajo", "poco", "agotando", "se acaba", "por acabarse",
)


@dataclass(frozen=True)
class StockWords:
    movements: dict[str, set[str]]  # kind -> words (all languages)
    numbers: dict[str, int]
    units: dict[str, str]  # word -> unit
    locations: dict[str, tuple[str, ...]]  # location code -> names


@lru_cache(maxsize=1)
def words(path: Path = WORDS_FILE) -> StockWords:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    movements = {
        kind: {_norm(w) for per_language in data["movements"].get(kind, {}).values() for w in per_language}
        for kind in KINDS
    }
    numbers = {_norm(word): int(value) for per_language in data["numbers"].values() for word, value in per_language.items()}
    units = {_norm(word): unit for unit, names in data["units"].items() for word in names}
    locations = {code: tuple(_norm(n) for n in names) for code, names in data["locations"].items()}
    return StockWords(movements, numbers, units, locations)


def _norm(text: str) -> str:
    return " ".join(WORD.findall(ascii_digits(unicodedata.normalize("NFC", str(text))).casefold()))


def _has(text: str, phrase: str) -> bool:
    if not phrase:
        return False
    if phrase.isascii():
        return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None
    return phrase in text  # Indic words take suffixes: "வந்துச்சு", "आया था"


def quantity(text: str) -> Optional[int]:
    """The quantity a message gives: "50", "५०", "௫௦", "fifty", "pachas", "a dozen", "rendu"; None if none."""
    normalized = _norm(text)
    digits = [int(m.group(1)) for m in _NUMBER.finditer(normalized)]
    # Sizes in names ("5 kg", "500 ml", "1 litre") are not quantities when another number is given.
    sized = {int(m.group(1)) for m in re.finditer(r"(\d+)\s*(?:kg|g|gm|gram|grams|ml|l|litre|liter|years?)\b", normalized)}
    counted = [d for d in digits if d not in sized] or digits
    if counted:
        return counted[0]
    numbers = words().numbers
    tokens = normalized.split()
    total, found = 0, False
    for token in tokens:
        value = numbers.get(token)
        if value is None:
            if found:
                break
            continue
        found = True
        if value in (100, 1000) and total:
            total *= value
        else:
            total += value
    return total if found else None


def movement(text: str) -> Optional[str]:
    """What a stock message reports: received, sold, counted or reorder (the reorder point); None if unclear."""
    normalized = _norm(text)
    found = [kind for kind in KINDS if any(_has(normalized, w) for w in words().movements[kind])]
    if "reorder" in found:
        return "reorder"
    return found[0] if len(found) == 1 else None


def location(text: str) -> Optional[str]:
    """The location code a message names, or None."""
    normalized = _norm(text)
    found = {code for code, names in words().locations.items() if any(_has(normalized, n) for n in names)}
    return found.pop() if len(found) == 1 else None


def asks_for_low(text: str) -> bool:
    normalized = _norm(text)
    return any(_has(normalized, _norm(w)) for w in LOW_WORDS)


def without_stock_words(text: str) -> str:
    """The message without its store names and movement words, for finding the product it names."""
    normalized = _norm(text)
    for names in words().locations.values():
        for name in sorted(names, key=len, reverse=True):
            if name and _has(normalized, name):
                normalized = normalized.replace(name, " ")
    kept = [w for w in normalized.split() if not any(w == m for kind in KINDS for m in words().movements[kind])]
    return " ".join(kept) or normalized
