"""INSERT ... ON CONFLICT DO NOTHING for SQLite and PostgreSQL.

Used where concurrent writers may race to create the same row. Unlike catching
IntegrityError, it needs no savepoint, so the caller's transaction stays intact.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

_DIALECTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def insert_ignore(
    session: Session,
    table: Table,
    values: dict[str, Any],
    conflict_columns: Sequence[str],
    conflict_where: Optional[ColumnElement] = None,
) -> bool:
    """Insert one row unless it conflicts on ``conflict_columns``. True when inserted."""
    dialect = session.get_bind().dialect.name
    try:
        make_insert = _DIALECTS[dialect]
    except KeyError:
        raise NotImplementedError(f"insert_ignore does not support {dialect!r}") from None
    statement = make_insert(table).values(**values).on_conflict_do_nothing(
        index_elements=list(conflict_columns), index_where=conflict_where
    )
    return session.execute(statement).rowcount == 1
