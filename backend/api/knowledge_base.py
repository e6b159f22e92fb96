"""Agent API for the knowledge base: read and edit articles, and see the questions it could not answer.

Edits take effect on the next question (the search index follows the database; nothing is retrained).
"""
from __future__ import annotations

from datetime import datetime
from typing import List, Optional

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field, StrictBool, StrictStr, validator
from sqlalchemy.orm import Session

from backend.api.deps import Staff, db_session, require_staff
from backend.models import FaqQuery, KbArticle
from backend.services import knowledge_base
from backend.services.users import LANGUAGE_PATTERN

router = APIRouter(prefix="/api/kb", tags=["knowledge base"])


class ArticleTextIO(BaseModel):
    language: StrictStr = Field(..., max_length=35)
    title: StrictStr = Field(..., min_length=1, max_length=knowledge_base.TITLE_MAX)
    body: StrictStr = Field(..., min_length=1, max_length=10_000)
    keywords: List[StrictStr] = Field(default_factory=list, max_items=100)
    questions: List[StrictStr] = Field(default_factory=list, max_items=200)

    @validator("language")
    def _language_tag(cls, value: str) -> str:
        if not LANGUAGE_PATTERN.match(value):
            raise ValueError("language must be a tag such as 'en' or 'ta-Latn'")
        return value


class ArticleOut(BaseModel):
    slug: str
    category: str
    published: bool
    updated_at: datetime
    texts: List[ArticleTextIO]

    @classmethod
    def of(cls, article: KbArticle) -> "ArticleOut":
        return cls(
            slug=article.slug,
            category=article.category,
            published=article.published,
            updated_at=article.updated_at,
            texts=[
                ArticleTextIO(
                    language=t.language, title=t.title, body=t.body,
                    keywords=list(t.keywords or []), questions=list(t.questions or []),
                )
                for t in article.texts
            ],
        )


class ArticleIn(BaseModel):
    category: StrictStr = Field(..., min_length=1, max_length=50)
    published: StrictBool = True
    texts: List[ArticleTextIO] = Field(..., min_items=1)

    @validator("texts")
    def _one_text_per_language(cls, value: List[ArticleTextIO]) -> List[ArticleTextIO]:
        languages = [t.language for t in value]
        if len(set(languages)) != len(languages):
            raise ValueError("give each language at most once")
        return value


class UnansweredOut(BaseModel):
    id: int
    question: str
    language: Optional[str]
    outcome: str
    article_slug: Optional[str]
    helpful: Optional[bool]
    score: Optional[float]
    created_at: datetime

    @classmethod
    def of(cls, query: FaqQuery) -> "UnansweredOut":
        return cls(
            id=query.id, question=query.question, language=query.language, outcome=query.outcome,
            article_slug=query.article.slug if query.article else None, helpful=query.helpful, score=query.score,
            created_at=query.created_at,
        )


@router.get("/articles", response_model=List[ArticleOut])
def list_articles(
    published: Optional[bool] = Query(None),
    staff: Staff = Depends(require_staff),
    session: Session = Depends(db_session),
) -> List[ArticleOut]:
    return [ArticleOut.of(a) for a in knowledge_base.list_articles(session, published=published)]


@router.get("/articles/{slug}", response_model=ArticleOut, responses={404: {"description": "No such article"}})
def get_article(slug: str, staff: Staff = Depends(require_staff), session: Session = Depends(db_session)) -> ArticleOut:
    try:
        return ArticleOut.of(knowledge_base.get_article(session, slug))
    except knowledge_base.ArticleNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No article {slug!r}.") from None


@router.put("/articles/{slug}", response_model=ArticleOut)
def put_article(
    slug: str,
    body: ArticleIn,
    staff: Staff = Depends(require_staff),
    session: Session = Depends(db_session),
) -> ArticleOut:
    """Create the article or replace its category, published flag and the texts of the languages given
    (languages not given keep their text). Unpublish with ``published: false``."""
    try:
        article = knowledge_base.save_article(
            session,
            slug=slug,
            category=body.category,
            published=body.published,
            texts=knowledge_base.texts_from(t.dict() for t in body.texts),
            actor=f"{staff.kind}:{staff.name}",
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    return ArticleOut.of(article)


@router.get("/unanswered", response_model=List[UnansweredOut])
def list_unanswered(
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    staff: Staff = Depends(require_staff),
    session: Session = Depends(db_session),
) -> List[UnansweredOut]:
    """Questions the knowledge base could not answer, or whose answer the customer said did not help,
    newest first: what to write next."""
    return [UnansweredOut.of(q) for q in knowledge_base.unanswered(session, limit=limit, offset=offset)]
