"""Retailer invitations: one-time codes that link a chat account to a location.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "retailer_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.Column("used_by", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_retailer_invites"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_retailer_invites_location_id_locations",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["used_by"], ["users.id"], name="fk_retailer_invites_used_by_users",
                                ondelete="SET NULL"),
    )
    op.create_index("ix_retailer_invites_channel_address", "retailer_invites", ["channel", "address"])


def downgrade() -> None:
    op.drop_index("ix_retailer_invites_channel_address", table_name="retailer_invites")
    op.drop_table("retailer_invites")
