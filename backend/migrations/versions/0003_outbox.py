"""Notification outbox: proactive messages waiting for, or done with, delivery.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UNFINISHED_ONLY = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("response", sa.String(100), nullable=True),
        sa.Column("params", JSON, nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("address", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_messages"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name="fk_outbox_messages_user_id_users", ondelete="CASCADE",
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_messages_idempotency_key"),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'dead')", name="ck_outbox_messages_status"
        ),
        sa.CheckConstraint("(response IS NULL) <> (text IS NULL)", name="ck_outbox_messages_content"),
    )
    op.create_index("ix_outbox_messages_user_id", "outbox_messages", ["user_id"])
    op.create_index("ix_outbox_messages_claim_token", "outbox_messages", ["claim_token"])
    op.create_index("ix_outbox_messages_status_id", "outbox_messages", ["status", "id"])
    op.create_index(
        "ix_outbox_messages_unfinished_user", "outbox_messages", ["user_id", "id"],
        sqlite_where=UNFINISHED_ONLY, postgresql_where=UNFINISHED_ONLY,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_unfinished_user", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_status_id", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_claim_token", table_name="outbox_messages")
    op.drop_index("ix_outbox_messages_user_id", table_name="outbox_messages")
    op.drop_table("outbox_messages")
