"""The knowledge base: articles in every language, answering questions, and what the team should write next.

Answers come from :mod:`backend.services.kb_search` over the published articles as they are in the database
now: the index is rebuilt whenever an article changes (no retraining). Every question is recorded with its
outcome; questions answered with too little confidence, and answers the customer said did not help, are what
``unanswered`` lists for the team.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from backend.models import FaqQuery, KbArticle, KbArticleText, utcnow
from backend.services import audit
from backend.services.kb_search import Document, KbIndex

KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge"
# Tuned on bench/data/faq/dev (see docs/benchmarks.md): below it the assistant says it does not know.
CONFIDENCE_THRESHOLD = 0.35
# Below the threshold but above this, the best articles are offered as "did you mean...?" choices.
SUGGESTION_THRESHOLD = 0.1
SUGGESTIONS = 2
QUESTION_MAX = 1000
TITLE_MAX = 300
SLUG_MAX = 100


class ArticleNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Answer:
    """The outcome of a question: the article (None when unsure) in the asker's language where it exists."""

    query_id: int
    article_id: Optional[int]
    slug: Optional[str]
    title: Optional[str]
    body: Optional[str]
    confidence: float
    suggestions: tuple[tuple[str, str], ...] = ()  # (slug, title) to offer when not answered

    @property
    def answered(self) -> bool:
        return self.article_id is not None


@dataclass(frozen=True)
class ArticleText:
    title: str
    body: str
    keywords: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()


# -- articles -------------------------------------------------------------------------------------------------

def save_article(
    session: Session,
    *,
    slug: str,
    category: str,
    texts: Mapping[str, ArticleText],
    published: bool = True,
    actor: str = "system:seed",
) -> KbArticle:
    """Create the article ``slug`` or replace its category, published flag and texts (per language given)."""
    slug = (slug or "").strip()
    if not slug or len(slug) > SLUG_MAX:
        raise ValueError(f"slug must be 1-{SLUG_MAX} characters")
    if not category or len(category) > 50:
        raise ValueError("category must be 1-50 characters")
    if not texts:
        raise ValueError("an article needs its text in at least one language")
    for language, text in texts.items():
        if not text.title.strip() or not text.body.strip():
            raise ValueError(f"the {language} text needs a title and a body")
        if len(text.title) > TITLE_MAX:
            raise ValueError(f"the {language} title must be at most {TITLE_MAX} characters")
    article = session.execute(
        select(KbArticle).options(selectinload(KbArticle.texts)).where(KbArticle.slug == slug)
    ).scalar_one_or_none()
    created = article is None
    if article is None:
        article = KbArticle(slug=slug, category=category, published=published)
        session.add(article)
    changed = created or article.category != category or article.published != published
    article.category, article.published = category, published
    for language, text in texts.items():
        values = {
            "title": text.title.strip(),
            "body": text.body.strip(),
            "keywords": [k.strip() for k in text.keywords if k and k.strip()],
            "questions": [q.strip() for q in text.questions if q and q.strip()],
        }
        existing = article.text_in(language)
        if existing is None:
            article.texts.append(KbArticleText(language=language, **values))
            changed = True
        elif any(getattr(existing, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(existing, name, value)
            changed = True
    if changed:
        article.updated_at = utcnow()
        session.flush()
        audit.record(
            session, actor=actor, action="kb_article.created" if created else "kb_article.updated",
            subject_type="kb_article", subject_id=slug, details={"languages": sorted(texts)},
        )
    return article


def get_article(session: Session, slug: str) -> KbArticle:
    article = session.execute(
        select(KbArticle).options(selectinload(KbArticle.texts)).where(KbArticle.slug == slug)
    ).scalar_one_or_none()
    if article is None:
        raise ArticleNotFound(slug)
    return article


def list_articles(session: Session, *, published: Optional[bool] = None) -> list[KbArticle]:
    statement = select(KbArticle).options(selectinload(KbArticle.texts)).order_by(KbArticle.slug)
    if published is not None:
        statement = statement.where(KbArticle.published == published)
    return list(session.execute(statement).scalars())


def load_seed_articles(session: Session, directory: Path = KNOWLEDGE_DIR) -> int:
    """Load ``backend/knowledge/<lang>.yml`` (the demo business's articles); returns how many articles."""
    catalogue = yaml.safe_load((directory / "articles.yml").read_text(encoding="utf-8"))
    texts: dict[str, dict[str, ArticleText]] = {slug: {} for slug in catalogue["articles"]}
    for path in sorted(directory.glob("*.yml")):
        if path.name == "articles.yml":
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for slug, text in data["articles"].items():
            if slug not in texts:
                raise ValueError(f"{path.name}: article {slug!r} is not listed in articles.yml")
            texts[slug][data["language"]] = ArticleText(
                text["title"], text["body"], tuple(text.get("keywords") or ()), tuple(text.get("questions") or ())
            )
    for slug, meta in catalogue["articles"].items():
        save_article(session, slug=slug, category=meta["category"], texts=texts[slug])
    return len(texts)


# -- answering ------------------------------------------------------------------------------------------------

class _IndexCache:
    """One index per database, rebuilt when the published articles change (count or latest update)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Any, KbIndex, dict[int, str]]] = {}

    def get(self, session: Session) -> tuple[KbIndex, dict[int, str]]:
        key = str(session.get_bind().engine.url)
        version = session.execute(
            select(func.count(KbArticle.id), func.max(KbArticle.updated_at))
        ).one()
        version = (version[0], str(version[1]))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                return entry[1], entry[2]
        articles = list_articles(session, published=True)
        index = KbIndex(
            Document(a.id, t.language, t.title, t.body, tuple(t.keywords or ()), tuple(t.questions or ()))
            for a in articles
            for t in a.texts
        )
        slugs = {a.id: a.slug for a in articles}
        with self._lock:
            self._entries[key] = (version, index, slugs)
        return index, slugs


_cache = _IndexCache()


def search(session: Session, question: str) -> list[tuple[str, float, float]]:
    """(slug, score, confidence) of the best articles, without recording anything (for benchmarks and tests)."""
    index, slugs = _cache.get(session)
    return [(slugs[hit.article_id], hit.score, hit.confidence) for hit in index.search(question)]


def answer(
    session: Session,
    question: str,
    *,
    language: Optional[str],
    user_id: Optional[int] = None,
    search_text: Optional[str] = None,
    threshold: float = CONFIDENCE_THRESHOLD,
) -> Answer:
    """Answer ``question`` from the knowledge base and record it. ``search_text`` (e.g. an English machine
    translation of a question in another language) is what is searched when given."""
    question = (question or "").strip()
    if not question:
        raise ValueError("question must not be empty")
    question = question[:QUESTION_MAX]
    index, _ = _cache.get(session)
    hits = index.search(search_text or question, limit=SUGGESTIONS)
    best = hits[0] if hits else None
    confident = best is not None and best.confidence >= threshold
    query = FaqQuery(
        user_id=user_id,
        language=language,
        question=question,
        article_id=best.article_id if confident else None,
        score=best.confidence if best else 0.0,
        outcome="answered" if confident else "unanswered",
    )
    session.add(query)
    session.flush()
    if not confident:
        suggestions: tuple[tuple[str, str], ...] = ()
        if best is not None and best.confidence >= SUGGESTION_THRESHOLD:
            articles = [session.get(KbArticle, hit.article_id) for hit in hits]
            suggestions = tuple((a.slug, _text_for(a, language).title) for a in articles)
        return Answer(query.id, None, None, None, None, query.score, suggestions)
    article = session.get(KbArticle, best.article_id)
    text = _text_for(article, language)
    return Answer(query.id, article.id, article.slug, text.title, text.body, best.confidence)


def show(session: Session, slug: str, *, query_id: Optional[int], language: Optional[str], user_id: Optional[int]) -> Answer:
    """The article the customer picked from the suggestions; their question now counts as answered by it."""
    article = get_article(session, slug)
    if not article.published:
        raise ArticleNotFound(slug)
    query = session.get(FaqQuery, query_id) if query_id is not None else None
    if query is not None and query.user_id == user_id and query.outcome == "unanswered":
        query.article_id, query.outcome = article.id, "answered"
    text = _text_for(article, language)
    return Answer(query.id if query is not None else 0, article.id, slug, text.title, text.body, 1.0)


def _text_for(article: KbArticle, language: Optional[str]) -> KbArticleText:
    """The article in ``language``, else in English, else in any language it has."""
    return article.text_in(language or "en") or article.text_in("en") or article.texts[0]


def record_feedback(
    session: Session, query_id: int, helpful: bool, *, user_id: Optional[int], now: Optional[datetime] = None
) -> FaqQuery:
    """Record whether the answer to a question helped; only the asker can rate their own question."""
    query = session.get(FaqQuery, query_id)
    if query is None or query.user_id != user_id:
        raise LookupError(f"no question {query_id} of this user")
    query.helpful, query.feedback_at = bool(helpful), now or utcnow()
    return query


def unanswered(session: Session, *, limit: int = 100, offset: int = 0) -> list[FaqQuery]:
    """Questions the knowledge base could not answer, or whose answer did not help: newest first."""
    statement = (
        select(FaqQuery)
        .where(or_(FaqQuery.outcome == "unanswered", FaqQuery.helpful.is_(False)))
        .order_by(FaqQuery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.execute(statement).scalars())


def texts_from(items: Iterable[Mapping[str, Any]]) -> dict[str, ArticleText]:
    """API payload ``[{language, title, body, keywords, questions}]`` to ``{language: ArticleText}``."""
    return {
        item["language"]: ArticleText(
            item["title"], item["body"], tuple(item.get("keywords") or ()), tuple(item.get("questions") or ())
        )
        for item in items
    }
