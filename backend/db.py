"""Engines, sessions and schema migration.

The SQLite file is shared by three processes (Rasa actions, the API and the
connectors), hence WAL mode and a busy timeout on every connection.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from backend.config import get_settings

log = logging.getLogger(__name__)

BACKEND_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = BACKEND_DIR / "alembic.ini"
MIGRATIONS_DIR = BACKEND_DIR / "migrations"
POSTGRES_CONNECT_TIMEOUT = 5


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached (refused, timed out, or the connection dropped)."""


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(database_url: Optional[str] = None) -> Engine:
    """The shared engine for ``database_url`` (default: settings), created once per URL."""
    url = database_url or get_settings().database_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        return engine


def reset_engine(database_url: Optional[str] = None) -> None:
    """Dispose cached engines: the one for ``database_url``, or all of them."""
    with _engines_lock:
        urls = list(_engines) if database_url is None else [database_url]
        for url in urls:
            engine = _engines.pop(url, None)
            if engine is not None:
                engine.dispose()


@contextmanager
def session_scope(database_url: Optional[str] = None) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error.

    Raises :class:`DatabaseUnavailable` instead of a driver error when the
    database cannot be reached. Objects stay usable after the block ends.
    """
    engine = get_engine(database_url)
    with connect(engine) as connection:
        session = Session(bind=connection, future=True, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except (OperationalError, InterfaceError) as exc:
            session.rollback()
            if exc.connection_invalidated:
                raise _unavailable(engine, exc) from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


@contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """``engine.connect()`` that raises :class:`DatabaseUnavailable` on connect failure."""
    try:
        connection = engine.connect()
    except (OperationalError, InterfaceError) as exc:
        raise _unavailable(engine, exc) from exc
    with connection:
        yield connection


def check_database(database_url: Optional[str] = None) -> bool:
    """True when a trivial query succeeds."""
    try:
        with connect(get_engine(database_url)) as connection:
            connection.exec_driver_sql("SELECT 1").scalar_one()
        return True
    except (DatabaseUnavailable, DBAPIError) as exc:
        log.warning("Database health check failed: %s", exc)
        return False


def migrate(database_url: Optional[str] = None) -> None:
    """Bring the schema to the latest revision (Alembic ``upgrade head``)."""
    url = database_url or get_settings().database_url
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    engine = get_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except (OperationalError, InterfaceError) as exc:
        if exc.connection_invalidated or _is_connect_error(exc):
            raise _unavailable(engine, exc) from exc
        raise


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # FastAPI may open a request's session in one worker thread and close it in another (dependencies with
        # yield); a connection is still used by one thread at a time, so sqlite3's same-thread check is off.
        engine = create_engine(url, future=True, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT
    return create_engine(url, future=True, pool_pre_ping=True, connect_args=connect_args)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def _is_connect_error(exc: DBAPIError) -> bool:
    # Errors raised while opening a connection carry no statement.
    return exc.statement is None


def _unavailable(engine: Engine, exc: DBAPIError) -> DatabaseUnavailable:
    safe_url = engine.url.render_as_string(hide_password=True)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    return DatabaseUnavailable(f"Database {safe_url} is unavailable: {reason}")
