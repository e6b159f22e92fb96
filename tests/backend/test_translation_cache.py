from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.db import session_scope
from backend.models import TranslationCache
from backend.services import translation_cache


def test_store_and_lookup(database_url: str) -> None:
    with session_scope(database_url) as session:
        assert translation_cache.lookup(session, "libre", "en", "hi", "Hello") is None
        translation_cache.store(session, "libre", "en", "hi", "Hello", "नमस्ते")
    with session_scope(database_url) as session:
        assert translation_cache.lookup(session, "libre", "en", "hi", "Hello") == "नमस्ते"
        assert translation_cache.lookup(session, "google", "en", "hi", "Hello") is None
        assert translation_cache.lookup(session, "libre", "en", "ta", "Hello") is None
        assert translation_cache.lookup(session, "libre", "en", "hi", "Hello!") is None
        row = session.execute(select(TranslationCache)).scalar_one()
    assert row.text_hash == "185f8db32271fe25f561a6fc938b2e264306ec304eda518007d1764826381969"


def test_store_twice_keeps_first(database_url: str) -> None:
    with session_scope(database_url) as session:
        translation_cache.store(session, "google", "en", "ta", "Yes", "ஆம்")
    with session_scope(database_url) as session:
        translation_cache.store(session, "google", "en", "ta", "Yes", "different")
        assert translation_cache.lookup(session, "google", "en", "ta", "Yes") == "ஆம்"


def test_concurrent_store_race(database_url: str, monkeypatch: pytest.MonkeyPatch, run_in_threads, first_call_barrier) -> None:
    workers = 5
    monkeypatch.setattr(translation_cache, "lookup", first_call_barrier(translation_cache.lookup, workers))

    def translate(index: int) -> str:
        with session_scope(database_url) as session:
            cached = translation_cache.lookup(session, "libre", "en", "ur", "Thank you")
            assert cached is None  # every worker missed, so every worker stores
            translation_cache.store(session, "libre", "en", "ur", "Thank you", f"شکریہ {index}")
        with session_scope(database_url) as session:
            return translation_cache.lookup.function(session, "libre", "en", "ur", "Thank you")

    results = run_in_threads(workers, translate)
    assert len(set(results)) == 1
    with session_scope(database_url) as session:
        assert session.execute(select(func.count(TranslationCache.id))).scalar_one() == 1
