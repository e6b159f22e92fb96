"""Helpdesk: knowledge base, FAQ questions, tickets and their comments, and the web chat inbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _in(column: str, values: tuple) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("category", sa.String(50), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_articles"),
        sa.UniqueConstraint("slug", name="uq_kb_articles_slug"),
    )
    op.create_table(
        "kb_article_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keywords", JSON, nullable=False),
        sa.Column("questions", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_article_texts"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["kb_articles.id"], name="fk_kb_article_texts_article_id_kb_articles", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("article_id", "language", name="uq_kb_article_texts_article_id_language"),
    )
    op.create_index("ix_kb_article_texts_article_id", "kb_article_texts", ["article_id"])

    op.create_table(
        "faq_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("feedback_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_faq_queries"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_faq_queries_user_id_users", ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["article_id"], ["kb_articles.id"], name="fk_faq_queries_article_id_kb_articles", ondelete="SET NULL"
        ),
        sa.CheckConstraint(_in("outcome", ("answered", "unanswered")), name="ck_faq_queries_outcome"),
    )
    op.create_index("ix_faq_queries_user_id", "faq_queries", ["user_id"])
    op.create_index("ix_faq_queries_article_id", "faq_queries", ["article_id"])
    op.create_index("ix_faq_queries_outcome_created_at", "faq_queries", ["outcome", "created_at"])

    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("details", sa.String(200), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("team", sa.String(50), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("first_response_due", TIMESTAMP, nullable=False),
        sa.Column("resolution_due", TIMESTAMP, nullable=False),
        sa.Column("first_response_at", TIMESTAMP, nullable=True),
        sa.Column("first_response_breached_at", TIMESTAMP, nullable=True),
        sa.Column("resolution_breached_at", TIMESTAMP, nullable=True),
        sa.Column("last_customer_activity_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("closed_by", sa.String(16), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("rated_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_tickets_user_id_users", ondelete="CASCADE"),
        sa.CheckConstraint(
            _in("category", ("delivery", "payment", "product", "account", "device", "other")),
            name="ck_tickets_category",
        ),
        sa.CheckConstraint(_in("status", ("open", "in_progress", "resolved", "closed")), name="ck_tickets_status"),
        sa.CheckConstraint(_in("priority", ("low", "normal", "high", "urgent")), name="ck_tickets_priority"),
        sa.CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="ck_tickets_rating"),
    )
    op.create_index("ix_tickets_user_id", "tickets", ["user_id"])
    op.create_index("ix_tickets_user_id_status", "tickets", ["user_id", "status"])
    op.create_index("ix_tickets_status_team", "tickets", ["status", "team"])

    op.create_table(
        "ticket_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author_type", sa.String(16), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_comments"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_ticket_comments_ticket_id_tickets", ondelete="CASCADE"
        ),
        sa.CheckConstraint(_in("author_type", ("customer", "agent", "system")), name="ck_ticket_comments_author_type"),
    )
    op.create_index("ix_ticket_comments_ticket_id", "ticket_comments", ["ticket_id"])

    op.create_table(
        "web_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_web_inbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_web_inbox_idempotency_key"),
    )
    op.create_index("ix_web_inbox_address_id", "web_inbox", ["address", "id"])


def downgrade() -> None:
    op.drop_index("ix_web_inbox_address_id", table_name="web_inbox")
    op.drop_table("web_inbox")
    op.drop_index("ix_ticket_comments_ticket_id", table_name="ticket_comments")
    op.drop_table("ticket_comments")
    for index in ("ix_tickets_status_team", "ix_tickets_user_id_status", "ix_tickets_user_id"):
        op.drop_index(index, table_name="tickets")
    op.drop_table("tickets")
    for index in ("ix_faq_queries_outcome_created_at", "ix_faq_queries_article_id", "ix_faq_queries_user_id"):
        op.drop_index(index, table_name="faq_queries")
    op.drop_table("faq_queries")
    op.drop_index("ix_kb_article_texts_article_id", table_name="kb_article_texts")
    op.drop_table("kb_article_texts")
    op.drop_table("kb_articles")
