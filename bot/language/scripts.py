"""Which writing system a text is in, counted over its letters."""
from __future__ import annotations

import unicodedata
from collections import Counter

# (first code point, last code point, script)
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "Latin"),
    (0x1E00, 0x1EFF, "Latin"),
    (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0750, 0x077F, "Arabic"),
    (0x0900, 0x097F, "Devanagari"),
    (0x0980, 0x09FF, "Bengali"),
    (0x0A00, 0x0A7F, "Gurmukhi"),
    (0x0A80, 0x0AFF, "Gujarati"),
    (0x0B00, 0x0B7F, "Oriya"),
    (0x0B80, 0x0BFF, "Tamil"),
    (0x0C00, 0x0C7F, "Telugu"),
    (0x0C80, 0x0CFF, "Kannada"),
    (0x0D00, 0x0D7F, "Malayalam"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x1100, 0x11FF, "Hangul"),
    (0x3040, 0x30FF, "Kana"),
    (0x3400, 0x9FFF, "Han"),
    (0xAC00, 0xD7AF, "Hangul"),
    (0xA8E0, 0xA8FF, "Devanagari"),
)


def script_of(char: str) -> str | None:
    code = ord(char)
    for first, last, script in _RANGES:
        if first <= code <= last:
            return script
    return None


def is_letter(char: str) -> bool:
    # Indic vowel signs and viramas are marks (Mn/Mc), not letters, but they belong to the word.
    return unicodedata.category(char)[0] in ("L", "M")


def script_counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for char in text:
        if is_letter(char):
            script = script_of(char)
            if script:
                counts[script] += 1
    return counts


def dominant_script(text: str) -> tuple[str | None, float]:
    """The script most letters are written in, and the share of letters in it."""
    counts = script_counts(text)
    total = sum(counts.values())
    if not total:
        return None, 0.0
    script, count = counts.most_common(1)[0]
    return script, count / total
