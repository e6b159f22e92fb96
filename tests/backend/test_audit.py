from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from backend.db import session_scope
from backend.models import AuditLog, AuditLogImmutable
from backend.services import audit


def make_entry(database_url: str) -> int:
    with session_scope(database_url) as session:
        entry = audit.record(
            session, actor="admin:1", action="user.role_set", subject_type="user", subject_id=5,
            details={"role": "agent", "note": "नमस्ते"},
        )
        return entry.id


def test_record(database_url: str) -> None:
    entry_id = make_entry(database_url)
    with session_scope(database_url) as session:
        entry = session.get(AuditLog, entry_id)
    assert (entry.actor, entry.action, entry.subject_type, entry.subject_id) == ("admin:1", "user.role_set", "user", "5")
    assert entry.details == {"role": "agent", "note": "नमस्ते"}
    assert entry.at.tzinfo is not None


def test_orm_update_is_refused(database_url: str) -> None:
    entry_id = make_entry(database_url)
    with pytest.raises(AuditLogImmutable):
        with session_scope(database_url) as session:
            session.get(AuditLog, entry_id).action = "tampered"
    with session_scope(database_url) as session:
        assert session.get(AuditLog, entry_id).action == "user.role_set"


def test_orm_delete_is_refused(database_url: str) -> None:
    entry_id = make_entry(database_url)
    with pytest.raises(AuditLogImmutable):
        with session_scope(database_url) as session:
            session.delete(session.get(AuditLog, entry_id))
    with session_scope(database_url) as session:
        assert session.get(AuditLog, entry_id) is not None


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditLog).values(action="x"),
        delete(AuditLog),
        update(AuditLog.__table__).values(action="x"),
        delete(AuditLog.__table__),
    ],
    ids=["orm-update", "orm-delete", "core-update", "core-delete"],
)
def test_bulk_statements_are_refused(database_url: str, statement) -> None:
    make_entry(database_url)
    with pytest.raises(AuditLogImmutable):
        with session_scope(database_url) as session:
            session.execute(statement)


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"])
def test_database_trigger_rejects_raw_sql(database_url: str, sql: str) -> None:
    make_entry(database_url)
    with pytest.raises(DatabaseError, match="append-only"):
        with session_scope(database_url) as session:
            session.execute(text(sql))
    with session_scope(database_url) as session:
        assert session.execute(select(AuditLog.action)).scalar_one() == "user.role_set"


@pytest.mark.postgres
def test_postgres_trigger_rejects_truncate(postgresql_url: str) -> None:
    make_entry(postgresql_url)
    with pytest.raises(DatabaseError, match="append-only"):
        with session_scope(postgresql_url) as session:
            session.execute(text("TRUNCATE audit_log"))
