"""Human handoff: agents, their teams and console sessions; human requests become handoffs with a ticket, a team
and an agent; the handoff's messages.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
OUTCOMES = "outcome IS NULL OR outcome IN ('returned', 'closed')"
OPEN_ONLY = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("language", sa.String(35), nullable=False, server_default="en"),
        sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_login_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint("username", name="uq_agents_username"),
    )
    op.create_table(
        "agent_teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_teams"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name="fk_agent_teams_agent_id_agents", ondelete="CASCADE"),
        sa.UniqueConstraint("agent_id", "team", name="uq_agent_teams_agent_id_team"),
    )
    op.create_index("ix_agent_teams_agent_id", "agent_teams", ["agent_id"])
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agent_sessions"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name="fk_agent_sessions_agent_id_agents",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("token_hash", name="uq_agent_sessions_token_hash"),
    )
    op.create_index("ix_agent_sessions_agent_id", "agent_sessions", ["agent_id"])

    # SQLite cannot add constraints to a table: batch mode copies it into a new one. Reflection there loses the
    # WHERE of the partial unique index, so that index is dropped first and made again afterwards.
    op.drop_index("uq_human_requests_open_user", table_name="human_requests")
    with op.batch_alter_table("human_requests") as batch:
        for name, type_ in (
            ("sender_id", sa.String(255)), ("queued_at", TIMESTAMP), ("taken_at", TIMESTAMP),
            ("first_response_at", TIMESTAMP), ("ended_at", TIMESTAMP), ("outcome", sa.String(16)),
            ("ticket_id", sa.Integer()), ("agent_id", sa.Integer()),
        ):
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.add_column(sa.Column("team", sa.String(50), nullable=False, server_default="customer-care"))
        batch.create_foreign_key("fk_human_requests_ticket_id_tickets", "tickets", ["ticket_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_foreign_key("fk_human_requests_agent_id_agents", "agents", ["agent_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_check_constraint("ck_human_requests_outcome", sa.text(OUTCOMES))
    op.create_index("uq_human_requests_open_user", "human_requests", ["user_id"], unique=True,
                    sqlite_where=OPEN_ONLY, postgresql_where=OPEN_ONLY)
    op.create_index("ix_human_requests_ticket_id", "human_requests", ["ticket_id"])
    op.create_index("ix_human_requests_agent_id", "human_requests", ["agent_id"])
    op.create_index("ix_human_requests_status_team_agent_id", "human_requests", ["status", "team", "agent_id"])

    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("translation", sa.Text(), nullable=True),
        sa.Column("translation_language", sa.String(35), nullable=True),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_messages"),
        sa.ForeignKeyConstraint(["request_id"], ["human_requests.id"],
                                name="fk_handoff_messages_request_id_human_requests", ondelete="CASCADE"),
        sa.UniqueConstraint("external_id", name="uq_handoff_messages_external_id"),
        sa.CheckConstraint("kind IN ('customer', 'agent', 'note', 'system')", name="ck_handoff_messages_kind"),
    )
    op.create_index("ix_handoff_messages_request_id_id", "handoff_messages", ["request_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_handoff_messages_request_id_id", table_name="handoff_messages")
    op.drop_table("handoff_messages")
    op.drop_index("ix_human_requests_status_team_agent_id", table_name="human_requests")
    op.drop_index("ix_human_requests_agent_id", table_name="human_requests")
    op.drop_index("ix_human_requests_ticket_id", table_name="human_requests")
    op.drop_index("uq_human_requests_open_user", table_name="human_requests")
    with op.batch_alter_table("human_requests") as batch:
        batch.drop_constraint("ck_human_requests_outcome", type_="check")
        batch.drop_constraint("fk_human_requests_agent_id_agents", type_="foreignkey")
        batch.drop_constraint("fk_human_requests_ticket_id_tickets", type_="foreignkey")
        for name in ("agent_id", "ticket_id", "team", "outcome", "ended_at", "first_response_at", "taken_at",
                     "queued_at", "sender_id"):
            batch.drop_column(name)
    op.create_index("uq_human_requests_open_user", "human_requests", ["user_id"], unique=True,
                    sqlite_where=OPEN_ONLY, postgresql_where=OPEN_ONLY)
    op.drop_index("ix_agent_sessions_agent_id", table_name="agent_sessions")
    op.drop_table("agent_sessions")
    op.drop_index("ix_agent_teams_agent_id", table_name="agent_teams")
    op.drop_table("agent_teams")
    op.drop_table("agents")
