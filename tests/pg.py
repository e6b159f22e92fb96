"""Throwaway PostgreSQL databases for tests and benchmarks: created, optionally migrated, dropped afterwards."""
from __future__ import annotations

import secrets
from contextlib import contextmanager
from typing import Iterator

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

from backend.db import migrate, reset_engine


def admin_connection(admin_url: str, timeout: int = 5):
    """An autocommit connection to the server of ``admin_url`` (raises psycopg2.OperationalError when down)."""
    admin = make_url(admin_url)
    connection = psycopg2.connect(host=admin.host, port=admin.port or 5432, user=admin.username,
                                  password=admin.password, dbname=admin.database or "postgres",
                                  connect_timeout=timeout)
    connection.autocommit = True
    return connection


@contextmanager
def temporary_database(admin_url: str, prefix: str = "sahayak_test", *, migrated: bool = True) -> Iterator[str]:
    """A fresh database on the server of ``admin_url`` (migrated unless told otherwise); yields its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    connection = admin_connection(admin_url)
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            if migrated:
                migrate(url)
            yield url
        finally:
            reset_engine(url)
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        connection.close()
