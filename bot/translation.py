"""Machine translation for languages Sahayak does not speak natively.

deep-translator does the talking (Google by default online, or a LibreTranslate server); this module adds
what a chat needs around it: a timeout (deep-translator sets none), a pause after a failure so that one
dead network does not slow every message, and a persistent cache in the backend database.
``translate`` never raises: it returns None when no translation can be had, and the caller says so.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

from bot.languages import BASE_LANGUAGE

if TYPE_CHECKING:  # pragma: no cover
    from backend.config import Settings

logger = logging.getLogger(__name__)

# Google's codes differ from ISO 639-1 for a few languages.
_GOOGLE_CODES = {"zh": "zh-CN", "he": "iw"}
PAUSE_AFTER_FAILURE = 30.0


class Translator:
    def __init__(
        self,
        provider: str = "none",
        *,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = 5.0,
        cache: "TranslationStore | None" = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = (provider or "none").lower()
        self.url = url
        self.api_key = api_key
        self.timeout = timeout
        self.cache = cache
        self._clock = clock
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="translate")

    @property
    def configured(self) -> bool:
        return self.provider in ("google", "libre")

    @property
    def available(self) -> bool:
        return self.configured and self._clock() >= self._paused_until

    def translate(self, text: str, source: str, target: str) -> str | None:
        source, target = BASE_LANGUAGE.get(source, source), BASE_LANGUAGE.get(target, target)
        if not text.strip() or source == target:
            return text
        if not self.configured:
            return None
        if self.cache:
            cached = self.cache.lookup(self.provider, source, target, text)
            if cached is not None:
                return cached
        if not self.available:
            return None
        translated = self._call(text, source, target)
        if translated is not None and self.cache:
            self.cache.store(self.provider, source, target, text, translated)
        return translated

    def _call(self, text: str, source: str, target: str) -> str | None:
        future = self._pool.submit(self._provider_translate, text, source, target)
        try:
            result = future.result(timeout=self.timeout)
        except FutureTimeout:
            self._pause(f"no answer within {self.timeout:.0f} s")
            return None
        except Exception as error:  # deep-translator raises many types; all mean "no translation"
            self._pause(type(error).__name__)
            return None
        return result if isinstance(result, str) and result.strip() else None

    def _pause(self, reason: str) -> None:
        with self._lock:
            self._paused_until = self._clock() + PAUSE_AFTER_FAILURE
        logger.warning("Translation through %s failed (%s); pausing for %.0f s.", self.provider, reason, PAUSE_AFTER_FAILURE)

    def _provider_translate(self, text: str, source: str, target: str) -> str:
        if self.provider == "google":
            from deep_translator import GoogleTranslator

            return GoogleTranslator(
                source=_GOOGLE_CODES.get(source, source), target=_GOOGLE_CODES.get(target, target)
            ).translate(text)
        from deep_translator import LibreTranslator

        url = self.url if self.url.endswith("/") else self.url + "/"
        # deep-translator insists on a key even for servers that need none.
        return LibreTranslator(
            source=source, target=target, api_key=self.api_key or "none", custom_url=url
        ).translate(text)


class TranslationStore:
    """The backend's persistent translation cache, behind a small in-memory one."""

    def __init__(self, memory_size: int = 2048, database_url: str | None = None) -> None:
        self._memory: dict[tuple[str, str, str, str], str] = {}
        self._memory_size = memory_size
        self._database_url = database_url

    def lookup(self, provider: str, source: str, target: str, text: str) -> str | None:
        key = (provider, source, target, text)
        if key in self._memory:
            return self._memory[key]
        try:
            from backend.db import session_scope
            from backend.services import translation_cache

            with session_scope(self._database_url) as session:
                found = translation_cache.lookup(session, provider, source, target, text)
        except Exception:
            logger.exception("Translation cache lookup failed; translating without it.")
            return None
        if found is not None:
            self._remember(key, found)
        return found

    def store(self, provider: str, source: str, target: str, text: str, translated: str) -> None:
        self._remember((provider, source, target, text), translated)
        try:
            from backend.db import session_scope
            from backend.services import translation_cache

            with session_scope(self._database_url) as session:
                translation_cache.store(session, provider, source, target, text, translated)
        except Exception:
            logger.exception("Could not store a translation in the cache.")

    def _remember(self, key: tuple[str, str, str, str], value: str) -> None:
        if len(self._memory) >= self._memory_size:
            self._memory.pop(next(iter(self._memory)))
        self._memory[key] = value


@lru_cache(maxsize=1)
def get_translator() -> Translator:
    """The process-wide translator, configured from the environment."""
    from backend.config import get_settings

    return translator_for(get_settings())


def translator_for(settings: "Settings") -> Translator:
    """A translator configured by ``settings``, caching in their database."""
    return Translator(
        settings.translation_provider,
        url=settings.libretranslate_url,
        api_key=settings.libretranslate_api_key,
        timeout=settings.translation_timeout,
        cache=TranslationStore(database_url=settings.database_url),
    )
