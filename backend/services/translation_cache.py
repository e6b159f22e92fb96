"""Cache of machine translations, keyed by provider, languages and a hash of the text."""
from __future__ import annotations

import hashlib
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import TranslationCache, utcnow
from backend.services._insert import insert_ignore


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def lookup(session: Session, provider: str, source: str, target: str, text: str) -> Optional[str]:
    """The cached translation of ``text``, or None."""
    statement = select(TranslationCache.source_text, TranslationCache.translated_text).where(
        TranslationCache.provider == provider,
        TranslationCache.source_language == source,
        TranslationCache.target_language == target,
        TranslationCache.text_hash == text_hash(text),
    )
    row = session.execute(statement).first()
    if row is None or row.source_text != text:
        return None
    return row.translated_text


def store(
    session: Session, provider: str, source: str, target: str, text: str, translated: str
) -> None:
    """Cache a translation. If another worker stored the same key first, theirs is kept."""
    insert_ignore(
        session,
        TranslationCache.__table__,
        {
            "provider": provider,
            "source_language": source,
            "target_language": target,
            "text_hash": text_hash(text),
            "source_text": text,
            "translated_text": translated,
            "created_at": utcnow(),
        },
        conflict_columns=("provider", "source_language", "target_language", "text_hash"),
    )
