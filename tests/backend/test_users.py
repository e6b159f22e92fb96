from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.db import session_scope
from backend.models import AuditLog, ChannelIdentity, User
from backend.services import users


def count(database_url: str, model: type) -> int:
    with session_scope(database_url) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_identify_creates_then_finds(database_url: str) -> None:
    with session_scope(database_url) as session:
        user = users.identify(session, "telegram", "1001", display_name="Meera")
        first_seen = user.identities[0].last_seen_at
    with session_scope(database_url) as session:
        again = users.identify(session, "telegram", "1001", display_name="Other name")
        assert again.id == user.id
        assert again.display_name == "Meera"
        assert again.identities[0].last_seen_at >= first_seen
        other = users.identify(session, "whatsapp", "1001")
        assert other.id != user.id
    assert count(database_url, User) == 2


def test_identify_rejects_bad_identities(database_url: str) -> None:
    with session_scope(database_url) as session:
        for channel, cid in [("", "1"), ("Tele gram", "1"), ("sms", ""), ("sms", "x" * 256)]:
            with pytest.raises(ValueError):
                users.identify(session, channel, cid)


def test_concurrent_first_contact_creates_one_user(database_url: str, monkeypatch: pytest.MonkeyPatch, run_in_threads, first_call_barrier) -> None:
    workers = 6
    monkeypatch.setattr(users, "_find_identity", first_call_barrier(users._find_identity, workers))

    def contact(_index: int) -> int:
        with session_scope(database_url) as session:
            return users.identify(session, "whatsapp", "+919800000001").id

    ids = run_in_threads(workers, contact)
    assert len(set(ids)) == 1
    assert count(database_url, User) == 1
    assert count(database_url, ChannelIdentity) == 1


def test_profile_creates_and_reports(database_url: str) -> None:
    with session_scope(database_url) as session:
        profile = users.profile(session, "rest", "abc")
    assert profile.role == "customer"
    assert profile.preferred_language is None and profile.language_explicit is False
    with session_scope(database_url) as session:
        user = users.identify(session, "rest", "abc")
        users.set_language(session, user, "hi", explicit=True)
    with session_scope(database_url) as session:
        again = users.profile(session, "rest", "abc")
    assert (again.user_id, again.preferred_language, again.language_explicit) == (profile.user_id, "hi", True)
    with pytest.raises(Exception):
        again.role = "admin"  # type: ignore[misc]


def test_language_rules(database_url: str) -> None:
    with session_scope(database_url) as session:
        user = users.identify(session, "sms", "+15550001")
        users.set_language(session, user, "ta", explicit=False)
        assert (user.preferred_language, user.language_explicit) == ("ta", False)
        users.set_language(session, user, "hi", explicit=False)
        assert user.preferred_language == "hi"

        users.set_language(session, user, "TA-latn", explicit=True)
        assert (user.preferred_language, user.language_explicit) == ("ta-Latn", True)

        users.set_language(session, user, "en", explicit=False)
        assert (user.preferred_language, user.language_explicit) == ("ta-Latn", True)

        users.set_language(session, user, "ur", explicit=True)
        assert (user.preferred_language, user.language_explicit) == ("ur", True)
        users.set_language(session, user, "ur", explicit=True)

        with pytest.raises(ValueError):
            users.set_language(session, user, "not a language", explicit=True)
        user_id = user.id

    with session_scope(database_url) as session:
        entries = session.execute(select(AuditLog).order_by(AuditLog.id)).scalars().all()
    assert [(e.action, e.subject_id, e.details) for e in entries] == [
        ("user.language_set", str(user_id), {"from": "hi", "to": "ta-Latn"}),
        ("user.language_set", str(user_id), {"from": "ta-Latn", "to": "ur"}),
    ]
    assert all(e.actor == f"user:{user_id}" for e in entries)


@pytest.mark.parametrize(
    "raw, expected",
    [("hi", "hi"), ("TA_latn", "ta-Latn"), ("pt-br", "pt-BR"), ("es-419", "es-419"), ("sr-cyrl-rs", "sr-Cyrl-RS")],
)
def test_normalize_language(raw: str, expected: str) -> None:
    assert users.normalize_language(raw) == expected
