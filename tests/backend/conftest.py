"""Fixtures: a migrated database on SQLite and on PostgreSQL, and isolated settings."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, List

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from backend import config
from backend.db import migrate, reset_engine
from tests.pg import admin_connection, temporary_database

# Admin connection used to create and drop throwaway databases.
PG_ADMIN_URL = os.environ.get("SAHAYAK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Set SAHAYAK_TEST_POSTGRES=require to fail instead of skipping when PostgreSQL is down.
PG_REQUIRED = os.environ.get("SAHAYAK_TEST_POSTGRES") == "require"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Iterator[config.Settings]:
    """Code that falls back to get_settings() must never touch the repo's .env or var/."""
    settings = config.load_settings(
        environ={"WEBCHAT_SECRET": "test-webchat-secret"},
        env_file=None,
        var_dir=tmp_path / "default-var",
    )
    previous = config._cached
    config._cached = settings
    yield settings
    config._cached = previous


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'sahayak.db'}"
    migrate(url)
    yield url
    reset_engine(url)


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    try:
        admin_connection(PG_ADMIN_URL, timeout=3).close()
    except psycopg2.OperationalError as exc:
        if PG_REQUIRED:
            raise
        pytest.skip(f"PostgreSQL not reachable at {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)}: {exc}")
    with temporary_database(PG_ADMIN_URL) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per supported database."""
    return request.getfixturevalue(f"{request.param}_url")


def _run_in_threads(count: int, target: Callable[[int], Any]) -> List[Any]:
    """Run ``target(i)`` in ``count`` threads; re-raise the first exception."""
    results: List[Any] = [None] * count
    errors: List[BaseException] = []

    def work(index: int) -> None:
        try:
            results[index] = target(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "worker threads hung"
    if errors:
        raise errors[0]
    return results


class FirstCallBarrier:
    """Wraps a function so each thread's first call waits until all threads made theirs.

    Used to force every worker past its "does it exist?" lookup before any of
    them inserts, which is exactly the race the services must survive.
    """

    def __init__(self, function: Callable[..., Any], parties: int) -> None:
        self.function = function
        self.barrier = threading.Barrier(parties, timeout=30)
        self.local = threading.local()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.function(*args, **kwargs)
        if not getattr(self.local, "called", False):
            self.local.called = True
            self.barrier.wait()
        return result


@pytest.fixture
def run_in_threads() -> Callable[[int, Callable[[int], Any]], List[Any]]:
    """``run_in_threads(count, target)``: run ``target(i)`` in threads, re-raising failures."""
    return _run_in_threads


@pytest.fixture
def first_call_barrier() -> type:
    """The :class:`FirstCallBarrier` class (fixtures avoid importing from conftest)."""
    return FirstCallBarrier
