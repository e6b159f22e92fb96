"""The knowledge base: seeded articles answer in every language, edits apply at once, gaps are listed."""
from __future__ import annotations

import pytest

from backend.db import session_scope
from backend.models import FaqQuery, KbArticle
from backend.services import knowledge_base, users
from backend.services.knowledge_base import ArticleText
from backend.services.kb_search import Document, KbIndex, tokens


@pytest.fixture
def seeded(database_url: str) -> str:
    with session_scope(database_url) as session:
        assert knowledge_base.load_seed_articles(session) == 14
    return database_url


def test_seeding_twice_changes_nothing(seeded: str) -> None:
    with session_scope(seeded) as session:
        before = {a.slug: a.updated_at for a in knowledge_base.list_articles(session)}
        knowledge_base.load_seed_articles(session)
        after = {a.slug: a.updated_at for a in knowledge_base.list_articles(session)}
        assert before == after
        article = knowledge_base.get_article(session, "watch-charging")
        assert sorted(t.language for t in article.texts) == ["en", "es", "hi", "hi-Latn", "ta", "ta-Latn"]
        assert all(len(t.questions) >= 10 for t in article.texts)


@pytest.mark.parametrize(
    "question, language, slug",
    [
        ("how long does the kid watch battery last?", "en", "watch-charging"),
        ("रिफंड कितने दिन में आएगा?", "hi", "refunds"),
        ("கடை எத்தனை மணிக்கு திறக்கும்?", "ta", "store-hours"),
        ("¿puedo pagar en efectivo cuando llegue el pedido?", "es", "payment-methods"),
        ("password bhool gaya, kaise reset karu", "hi-Latn", "account-password"),
        ("watch ah phone oda eppadi pair panradhu", "ta-Latn", "watch-pairing"),
    ],
)
def test_a_question_in_each_native_language_gets_the_article_in_that_language(
    seeded: str, question: str, language: str, slug: str
) -> None:
    with session_scope(seeded) as session:
        user = users.identify(session, "rest", f"kb-{language}")
        answer = knowledge_base.answer(session, question, language=language, user_id=user.id)
        assert answer.answered and answer.slug == slug
        expected = knowledge_base.get_article(session, slug).text_in(language)
        assert (answer.title, answer.body) == (expected.title, expected.body)
        query = session.get(FaqQuery, answer.query_id)
        assert (query.outcome, query.article_id, query.language) == ("answered", answer.article_id, language)


def test_an_unrelated_question_is_not_answered_and_is_listed_for_the_team(seeded: str) -> None:
    with session_scope(seeded) as session:
        user = users.identify(session, "rest", "kb-unknown")
        answer = knowledge_base.answer(session, "do you have trial rooms for sarees", language="en", user_id=user.id)
        assert not answer.answered and answer.title is None
        listed = knowledge_base.unanswered(session)
        assert [q.question for q in listed] == ["do you have trial rooms for sarees"]


def test_feedback_is_recorded_only_by_the_asker_and_a_no_lists_the_question(seeded: str) -> None:
    with session_scope(seeded) as session:
        asker = users.identify(session, "rest", "kb-asker")
        other = users.identify(session, "rest", "kb-other")
        answer = knowledge_base.answer(session, "how can I send back a shirt I bought?", language="en", user_id=asker.id)
        assert answer.answered
        with pytest.raises(LookupError):
            knowledge_base.record_feedback(session, answer.query_id, False, user_id=other.id)
        assert knowledge_base.unanswered(session) == []
        knowledge_base.record_feedback(session, answer.query_id, False, user_id=asker.id)
        assert [q.id for q in knowledge_base.unanswered(session)] == [answer.query_id]


def test_an_unsure_answer_offers_the_likely_articles_and_a_pick_counts_as_the_answer(seeded: str) -> None:
    with session_scope(seeded) as session:
        asker = users.identify(session, "rest", "kb-unsure")
        answer = knowledge_base.answer(session, "how do I return a kurta?", language="hi", user_id=asker.id)
        assert not answer.answered
        assert {slug for slug, _ in answer.suggestions} == {"returns", "exchanges"}
        titles = dict(answer.suggestions)
        assert titles["returns"] == knowledge_base.get_article(session, "returns").text_in("hi").title
        other = users.identify(session, "rest", "kb-someone")
        knowledge_base.show(session, "returns", query_id=answer.query_id, language="hi", user_id=other.id)
        assert session.get(FaqQuery, answer.query_id).outcome == "unanswered"  # not their question
        shown = knowledge_base.show(session, "returns", query_id=answer.query_id, language="hi", user_id=asker.id)
        assert shown.answered and shown.title == titles["returns"]
        assert session.get(FaqQuery, answer.query_id).outcome == "answered"
        with pytest.raises(knowledge_base.ArticleNotFound):
            knowledge_base.show(session, "no-such-article", query_id=None, language="en", user_id=asker.id)


def test_editing_an_article_changes_answers_at_once_without_retraining(seeded: str) -> None:
    question = "do you offer gift wrapping for birthday presents?"
    with session_scope(seeded) as session:
        assert not knowledge_base.answer(session, question, language="en").answered
        knowledge_base.save_article(
            session,
            slug="gift-wrapping",
            category="orders",
            texts={
                "en": ArticleText(
                    "Do you gift wrap orders?",
                    "Yes: choose gift wrapping at checkout for ₹30; we add a card with your message.",
                    ("gift wrap", "gift wrapping", "present", "birthday gift"),
                    ("can you wrap my order as a gift", "gift packing for a birthday present"),
                )
            },
            actor="admin:test",
        )
    with session_scope(seeded) as session:
        answer = knowledge_base.answer(session, question, language="ta")
        assert answer.answered and answer.slug == "gift-wrapping"
        assert answer.title == "Do you gift wrap orders?"  # no Tamil text yet: English
        article = knowledge_base.get_article(session, "gift-wrapping")
        article.published = False
        article.updated_at = article.updated_at.replace(microsecond=(article.updated_at.microsecond + 1) % 1_000_000)
    with session_scope(seeded) as session:
        assert knowledge_base.answer(session, question, language="en").slug != "gift-wrapping"


def test_invalid_articles_and_questions_are_refused(seeded: str) -> None:
    with session_scope(seeded) as session:
        with pytest.raises(ValueError):
            knowledge_base.save_article(session, slug="", category="x", texts={"en": ArticleText("t", "b")})
        with pytest.raises(ValueError):
            knowledge_base.save_article(session, slug="x", category="x", texts={"en": ArticleText("", "b")})
        with pytest.raises(ValueError):
            knowledge_base.save_article(session, slug="x", category="x", texts={})
        with pytest.raises(ValueError):
            knowledge_base.answer(session, "   ", language="en")
        with pytest.raises(knowledge_base.ArticleNotFound):
            knowledge_base.get_article(session, "nope")
        long_answer = knowledge_base.answer(session, "refund " * 1000, language="en")
        assert len(session.get(FaqQuery, long_answer.query_id).question) == knowledge_base.QUESTION_MAX
        assert session.query(KbArticle).count() == 14


def test_indic_words_are_kept_whole() -> None:
    assert tokens("वापस आने में कितने दिन लगेंगे") == ["वापस", "आने", "में", "कितने", "दिन", "लगेंगे"]
    assert tokens("வாட்சை எப்படி charge பண்றது") == ["வாட்சை", "எப்படி", "charge", "பண்றது"]


def test_an_empty_or_unmatched_question_scores_nothing() -> None:
    index = KbIndex([Document(1, "en", "Refunds", "Money back in 5 days", ("refund",)), Document(2, "en", "Hours", "Open 9 to 10", ("hours",))])
    assert index.search("") == []
    assert index.search("zzzz qqqq") == []
    (best, *_) = index.search("when will my refund come")
    assert best.article_id == 1 and 0 < best.confidence <= 1
