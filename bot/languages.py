"""The languages Sahayak speaks natively and how they are named."""
from __future__ import annotations

NATIVE_LANGUAGES: tuple[str, ...] = ("en", "hi", "ta", "es", "hi-Latn", "ta-Latn")
SOURCE_LANGUAGE = "en"
DEFAULT_LANGUAGE = "en"

# The base language of a native code, as machine translation and lingua know it.
BASE_LANGUAGE: dict[str, str] = {code: code.split("-")[0] for code in NATIVE_LANGUAGES}

# How each language names itself (used in replies such as "I'll talk in {language_name}").
ENDONYMS: dict[str, str] = {
    "en": "English",
    "hi": "हिंदी",
    "ta": "தமிழ்",
    "es": "Español",
    "hi-Latn": "Hindi (Latin letters)",
    "ta-Latn": "Tamil (Latin letters)",
    "fr": "Français",
    "de": "Deutsch",
    "pt": "Português",
    "it": "Italiano",
    "bn": "বাংলা",
    "te": "తెలుగు",
    "mr": "मराठी",
    "gu": "ગુજરાતી",
    "pa": "ਪੰਜਾਬੀ",
    "ur": "اردو",
    "kn": "ಕನ್ನಡ",
    "ml": "മലയാളം",
    "ar": "العربية",
    "zh": "中文",
    "ja": "日本語",
    "ko": "한국어",
    "ru": "Русский",
    "id": "Bahasa Indonesia",
    "tr": "Türkçe",
    "nl": "Nederlands",
}


def is_native(code: str | None) -> bool:
    return code in NATIVE_LANGUAGES


def endonym(code: str) -> str:
    return ENDONYMS.get(code, code)
