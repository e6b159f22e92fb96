from __future__ import annotations

import socket
from datetime import timezone

import pytest
from sqlalchemy import func, select

from backend.db import DatabaseUnavailable, check_database, get_engine, migrate, reset_engine, session_scope
from backend.models import User


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_url() -> str:
    return f"postgresql://postgres:hunter2@127.0.0.1:{closed_port()}/sahayak"


def test_session_scope_commits(database_url: str) -> None:
    with session_scope(database_url) as session:
        session.add(User(display_name="Lakshmi"))
    with session_scope(database_url) as session:
        user = session.execute(select(User)).scalar_one()
    assert user.display_name == "Lakshmi"
    assert user.role == "customer" and user.language_explicit is False
    assert user.created_at.tzinfo is not None
    assert user.created_at.utcoffset() == timezone.utc.utcoffset(None)


def test_session_scope_rolls_back_on_error(database_url: str) -> None:
    with pytest.raises(KeyError):
        with session_scope(database_url) as session:
            session.add(User(display_name="ghost"))
            session.flush()
            raise KeyError("boom")
    with session_scope(database_url) as session:
        assert session.execute(select(func.count(User.id))).scalar_one() == 0


def test_role_check_constraint(database_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with session_scope(database_url) as session:
            session.add(User(role="superuser"))


def test_unreachable_database_raises_clear_error() -> None:
    url = unreachable_url()
    try:
        with pytest.raises(DatabaseUnavailable) as info:
            with session_scope(url) as session:
                session.execute(select(1))
        message = str(info.value)
        assert "127.0.0.1" in message and "unavailable" in message
        assert "hunter2" not in message
        assert check_database(url) is False
        with pytest.raises(DatabaseUnavailable):
            migrate(url)
    finally:
        reset_engine(url)


def test_engine_is_cached_per_url(sqlite_url: str, tmp_path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert get_engine(sqlite_url) is get_engine(sqlite_url)
    assert get_engine(other) is not get_engine(sqlite_url)
    first = get_engine(other)
    reset_engine(other)
    assert get_engine(other) is not first
    reset_engine(other)


def test_check_database(database_url: str) -> None:
    assert check_database(database_url) is True
