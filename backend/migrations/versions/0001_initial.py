"""Initial schema: users, channel identities, audit log, human requests, translation cache.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OPEN_ONLY = sa.text("status = 'open'")

POSTGRES_APPEND_ONLY = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""

SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is not allowed'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is not allowed'); END""",
]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("role", sa.String(16), nullable=False, server_default="customer"),
        sa.Column("preferred_language", sa.String(35), nullable=True),
        sa.Column("language_explicit", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.CheckConstraint(
            "role IN ('customer', 'retailer', 'guardian', 'agent', 'admin')",
            name="ck_users_role",
        ),
    )

    op.create_table(
        "channel_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("channel_user_id", sa.String(255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channel_identities"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name="fk_channel_identities_user_id_users", ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "channel", "channel_user_id", name="uq_channel_identities_channel_channel_user_id"
        ),
    )
    op.create_index("ix_channel_identities_user_id", "channel_identities", ["user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.String(50), nullable=True),
        sa.Column("subject_id", sa.String(255), nullable=True),
        sa.Column("details", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_subject_type_subject_id", "audit_log", ["subject_type", "subject_id"])

    op.create_table(
        "human_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("channel_user_id", sa.String(255), nullable=False),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("reason", sa.String(50), nullable=False),
        sa.Column("last_message", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_human_requests"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name="fk_human_requests_user_id_users", ondelete="CASCADE",
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_human_requests_status"),
    )
    op.create_index("ix_human_requests_user_id", "human_requests", ["user_id"])
    op.create_index("ix_human_requests_status_created_at", "human_requests", ["status", "created_at"])
    op.create_index(
        "uq_human_requests_open_user", "human_requests", ["user_id"], unique=True,
        sqlite_where=OPEN_ONLY, postgresql_where=OPEN_ONLY,
    )

    op.create_table(
        "translation_cache",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("source_language", sa.String(35), nullable=False),
        sa.Column("target_language", sa.String(35), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("translated_text", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_translation_cache"),
        sa.UniqueConstraint(
            "provider", "source_language", "target_language", "text_hash",
            name="uq_translation_cache_key",
        ),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(POSTGRES_APPEND_ONLY)
    elif dialect == "sqlite":
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("translation_cache")
    op.drop_table("human_requests")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("channel_identities")
    op.drop_table("users")
