"""Retail stock: locations, products and their names in every language, stock levels, the append-only stock
ledger, and which locations each retailer manages.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)

POSTGRES_APPEND_ONLY = """
CREATE FUNCTION stock_movements_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_movements is append-only: % is not allowed', TG_OP;
END
$$;
CREATE TRIGGER stock_movements_no_update_delete BEFORE UPDATE OR DELETE ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION stock_movements_append_only();
CREATE TRIGGER stock_movements_no_truncate BEFORE TRUNCATE ON stock_movements
    FOR EACH STATEMENT EXECUTE FUNCTION stock_movements_append_only();
"""

SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER stock_movements_no_update BEFORE UPDATE ON stock_movements
    BEGIN SELECT RAISE(ABORT, 'stock_movements is append-only: UPDATE is not allowed'); END""",
    """CREATE TRIGGER stock_movements_no_delete BEFORE DELETE ON stock_movements
    BEGIN SELECT RAISE(ABORT, 'stock_movements is append-only: DELETE is not allowed'); END""",
]


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_locations"),
        sa.UniqueConstraint("code", name="uq_locations_code"),
        sa.CheckConstraint("kind IN ('store', 'warehouse')", name="ck_locations_kind"),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("category", sa.String(50), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("price_paise", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("sku", name="uq_products_sku"),
        sa.CheckConstraint("price_paise >= 0", name="ck_products_price"),
    )
    op.create_table(
        "product_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_product_names"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_product_names_product_id_products",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("product_id", "language", "name", name="uq_product_names_product_id_language_name"),
        sa.CheckConstraint("kind IN ('name', 'alias')", name="ck_product_names_kind"),
    )
    op.create_index("ix_product_names_product_id", "product_names", ["product_id"])
    op.create_table(
        "stock_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reorder_point", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("low_alerted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stock_levels"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_stock_levels_product_id_products",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_stock_levels_location_id_locations",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("product_id", "location_id", name="uq_stock_levels_product_id_location_id"),
        sa.CheckConstraint("quantity >= 0", name="ck_stock_levels_quantity"),
        sa.CheckConstraint("reorder_point >= 0", name="ck_stock_levels_reorder_point"),
    )
    op.create_index("ix_stock_levels_product_id", "stock_levels", ["product_id"])
    op.create_index("ix_stock_levels_location_id", "stock_levels", ["location_id"])
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("transfer_id", sa.String(32), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stock_movements"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_stock_movements_product_id_products"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_stock_movements_location_id_locations"),
        sa.UniqueConstraint("idempotency_key", name="uq_stock_movements_idempotency_key"),
        sa.CheckConstraint(
            "kind IN ('received', 'sold', 'adjusted', 'transferred_in', 'transferred_out')",
            name="ck_stock_movements_kind",
        ),
    )
    op.create_index(
        "ix_stock_movements_product_id_location_id_id", "stock_movements", ["product_id", "location_id", "id"]
    )
    op.create_table(
        "retailer_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_retailer_locations"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_retailer_locations_user_id_users",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"],
                                name="fk_retailer_locations_location_id_locations", ondelete="CASCADE"),
        sa.UniqueConstraint("user_id", "location_id", name="uq_retailer_locations_user_id_location_id"),
    )
    op.create_index("ix_retailer_locations_user_id", "retailer_locations", ["user_id"])

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(POSTGRES_APPEND_ONLY)
    elif dialect == "sqlite":
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS stock_movements_no_truncate ON stock_movements")
        op.execute("DROP TRIGGER IF EXISTS stock_movements_no_update_delete ON stock_movements")
        op.execute("DROP FUNCTION IF EXISTS stock_movements_append_only()")
    op.drop_index("ix_retailer_locations_user_id", table_name="retailer_locations")
    op.drop_table("retailer_locations")
    op.drop_index("ix_stock_movements_product_id_location_id_id", table_name="stock_movements")
    op.drop_table("stock_movements")
    op.drop_index("ix_stock_levels_location_id", table_name="stock_levels")
    op.drop_index("ix_stock_levels_product_id", table_name="stock_levels")
    op.drop_table("stock_levels")
    op.drop_index("ix_product_names_product_id", table_name="product_names")
    op.drop_table("product_names")
    op.drop_table("products")
    op.drop_table("locations")
