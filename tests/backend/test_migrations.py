from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from backend import db
from backend.db import get_engine, migrate
from backend.models import Base

TABLES = {
    "users", "channel_identities", "audit_log", "human_requests", "translation_cache", "inbound_messages",
    "outbox_messages", "kb_articles", "kb_article_texts", "faq_queries", "tickets", "ticket_comments", "web_inbox",
    "locations", "products", "product_names", "stock_levels", "stock_movements", "retailer_locations",
    "retailer_invites", "agents", "agent_teams", "agent_sessions", "handoff_messages",
}


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    config = Config(str(db.ALEMBIC_INI))
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_migration_creates_schema_matching_models(database_url: str) -> None:
    engine = get_engine(database_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == head_revision()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migrate_is_idempotent(database_url: str) -> None:
    migrate(database_url)
    assert TABLES <= set(inspect(get_engine(database_url)).get_table_names())


def test_downgrade_then_upgrade(database_url: str) -> None:
    config = Config(str(db.ALEMBIC_INI))
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    config.attributes["configure_logging"] = False
    with get_engine(database_url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not TABLES & set(inspect(get_engine(database_url)).get_table_names())
    migrate(database_url)
    assert TABLES <= set(inspect(get_engine(database_url)).get_table_names())


def test_sqlite_connections_are_configured(sqlite_url: str) -> None:
    with get_engine(sqlite_url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 5000
