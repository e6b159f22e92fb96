"""Recognises language names in a message ("switch to Tamil", "हिंदी में बात करो", "/lang ta")."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

# Names people use for the languages they ask for, in the languages they ask in.
BUILTIN_NAMES: dict[str, str] = {
    # English
    "english": "en", "angrezi": "en", "angreji": "en", "inglés": "en", "ingles": "en",
    "अंग्रेज़ी": "en", "अंग्रेजी": "en", "इंग्लिश": "en", "ஆங்கிலம்": "en", "ஆங்கிலத்தில்": "en",
    "இங்கிலீஷ்": "en", "aangilam": "en", "english-la": "en",
    # Hindi
    "hindi": "hi", "हिंदी": "hi", "हिन्दी": "hi", "இந்தி": "hi", "ஹிந்தி": "hi", "hindí": "hi",
    # Tamil
    "tamil": "ta", "tamizh": "ta", "thamizh": "ta", "thamil": "ta", "tamul": "ta", "தமிழ்": "ta",
    "தமிழில்": "ta", "तमिल": "ta", "támil": "ta",
    # Spanish
    "spanish": "es", "español": "es", "espanol": "es", "castellano": "es", "स्पेनिश": "es",
    "स्पैनिश": "es", "ஸ்பானிஷ்": "es", "ஸ்பானிய": "es",
    # Romanized Hindi and Tamil
    "hinglish": "hi-Latn", "tanglish": "ta-Latn", "thanglish": "ta-Latn",
    # Other languages, answered through machine translation when it is configured
    "french": "fr", "français": "fr", "francais": "fr", "francés": "fr", "frances": "fr",
    "german": "de", "deutsch": "de", "alemán": "de", "aleman": "de",
    "portuguese": "pt", "português": "pt", "portugues": "pt",
    "italian": "it", "italiano": "it",
    "bengali": "bn", "bangla": "bn", "বাংলা": "bn",
    "telugu": "te", "తెలుగు": "te",
    "marathi": "mr", "मराठी": "mr",
    "gujarati": "gu", "ગુજરાતી": "gu",
    "punjabi": "pa", "ਪੰਜਾਬੀ": "pa",
    "kannada": "kn", "ಕನ್ನಡ": "kn",
    "malayalam": "ml", "മലയാളം": "ml",
    "urdu": "ur", "اردو": "ur",
    "arabic": "ar", "العربية": "ar",
    "chinese": "zh", "中文": "zh",
    "japanese": "ja", "日本語": "ja",
    "korean": "ko", "한국어": "ko",
    "russian": "ru", "русский": "ru",
}
LANGUAGE_CODES = frozenset(BUILTIN_NAMES.values())
_CODES_BY_LOWER = {code.lower(): code for code in LANGUAGE_CODES}

_WORD = re.compile(r"[\w\u0900-\u0DFF'-]+", re.UNICODE)
_COMMAND = re.compile(r"^\s*/lang(?:uage)?\s+(\S+)\s*$", re.IGNORECASE)
# Case endings that may be glued to a language name ("tamilla", "tamizhil", "hindime", "englishku",
# "தமிழில்"), and nothing else: "இந்தியா" (India) must not read as "இந்தி" (Hindi).
_ENDINGS = ("la", "le", "lu", "il", "ile", "yil", "yile", "ku", "kku", "me", "mein", "mai", "ல", "லே", "ில்",
            "ிலே", "ில", "ுல", "க்கு", "ுக்கு", "ை")
_VIRAMA = "\u0bcd"
# A language name followed by one of these names a place: "Tamil Nadu".
_PLACE_WORDS = ("nadu", "naadu", "நாடு", "नाडु")


@dataclass(frozen=True)
class LanguageMention:
    start: int
    end: int
    text: str
    code: str


def normalise(word: str) -> str:
    return unicodedata.normalize("NFC", word).lower().strip("'-")


class LanguageNames:
    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.names = {normalise(k): v for k, v in (names or BUILTIN_NAMES).items()}

    def learn(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Adds (name as written, code) pairs, e.g. the annotations of the training data."""
        for name, code in pairs:
            # Bare codes ("en" is also Tamil for "my") count only inside a /lang command.
            if code in LANGUAGE_CODES and len(name.split()) == 1 and normalise(name) not in _CODES_BY_LOWER:
                self.names[normalise(name)] = code

    def command(self, text: str) -> LanguageMention | None:
        """The language of a `/lang xx` command, by code or by name."""
        match = _COMMAND.match(text or "")
        if not match:
            return None
        word = match.group(1)
        code = _CODES_BY_LOWER.get(word.lower()) or self.names.get(normalise(word))
        if not code:
            return None
        return LanguageMention(match.start(1), match.end(1), word, code)

    def find(self, text: str) -> list[LanguageMention]:
        command = self.command(text)
        if command:
            return [command]
        mentions = []
        words = list(_WORD.finditer(text or ""))
        for index, match in enumerate(words):
            code = self._lookup(normalise(match.group()))
            following = normalise(words[index + 1].group()) if index + 1 < len(words) else ""
            if code and following not in _PLACE_WORDS:
                mentions.append(LanguageMention(match.start(), match.end(), match.group(), code))
        return mentions

    def _lookup(self, word: str) -> str | None:
        if word in self.names:
            return self.names[word]
        for name, code in self.names.items():
            stem = name.removesuffix(_VIRAMA)
            if len(stem) >= 3 and word.startswith(stem) and word[len(stem):] in _ENDINGS:
                return code
        return None
