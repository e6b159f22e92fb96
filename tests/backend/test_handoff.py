from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.db import session_scope
from backend.models import AuditLog, HumanRequest
from backend.services import handoff


def ask(session, message: str = "I need help", **overrides):
    arguments = dict(channel="telegram", channel_user_id="42", language="hi", reason="asked", last_message=message)
    arguments.update(overrides)
    return handoff.request_human(session, **arguments)


def test_request_is_created_and_deduplicated(database_url: str) -> None:
    with session_scope(database_url) as session:
        request, created = ask(session, "x" * 5000)
    assert created is True
    assert request.reference == f"H-{request.id:06d}"
    assert len(request.last_message) == 2000
    assert (request.status, request.channel, request.language, request.reason) == ("open", "telegram", "hi", "asked")

    with session_scope(database_url) as session:
        again, created_again = ask(session, "still waiting", reason="fallback")
    assert (again.id, created_again) == (request.id, False)

    with session_scope(database_url) as session:
        assert session.execute(select(func.count(HumanRequest.id))).scalar_one() == 1
        audit = session.execute(select(AuditLog)).scalars().all()
    assert [(a.action, a.subject_type, a.subject_id) for a in audit] == [
        ("human_request.opened", "human_request", str(request.id))
    ]


def test_new_request_after_close(database_url: str) -> None:
    with session_scope(database_url) as session:
        first, _ = ask(session)
        first.status = "closed"
    with session_scope(database_url) as session:
        second, created = ask(session)
    assert created is True and second.id != first.id


def test_reference_format() -> None:
    assert HumanRequest(id=7).reference == "H-000007"
    assert HumanRequest(id=1234567).reference == "H-1234567"


def test_lost_race_returns_winner(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another worker opened a request between our lookup and our insert."""
    with session_scope(database_url) as session:
        winner, _ = ask(session)
    real_open_request = handoff.open_request
    calls = []

    def stale_first_lookup(session, user_id):
        calls.append(user_id)
        return None if len(calls) == 1 else real_open_request(session, user_id)

    monkeypatch.setattr(handoff, "open_request", stale_first_lookup)
    with session_scope(database_url) as session:
        request, created = ask(session, "second attempt")
    assert (request.id, created) == (winner.id, False)
    assert len(calls) == 2
    with session_scope(database_url) as session:
        assert session.execute(select(func.count(HumanRequest.id))).scalar_one() == 1
        assert session.execute(select(func.count(AuditLog.id))).scalar_one() == 1


def test_reason_is_required(database_url: str) -> None:
    with session_scope(database_url) as session:
        with pytest.raises(ValueError):
            ask(session, reason="")
