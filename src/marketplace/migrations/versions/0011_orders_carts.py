"""orders carts

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders_cart",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("merged_into_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'merged', 'converted')", name=op.f("ck_orders_cart_status")
        ),
        sa.CheckConstraint(
            "customer_id IS NOT NULL OR token_hash IS NOT NULL", name=op.f("ck_orders_cart_owner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_cart")),
    )
    with op.batch_alter_table("orders_cart", schema=None) as batch_op:
        batch_op.create_index(
            "uq_orders_cart_open_customer",
            ["customer_id"],
            unique=True,
            sqlite_where=sa.text("status = 'open' AND customer_id IS NOT NULL"),
            postgresql_where=sa.text("status = 'open' AND customer_id IS NOT NULL"),
        )
        batch_op.create_index("ix_orders_cart_updated_at", ["updated_at"], unique=False)

    op.create_table(
        "orders_cart_item",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("cart_id", sa.String(length=40), nullable=False),
        sa.Column("variant_id", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "quantity >= 1 AND quantity <= 99", name=op.f("ck_orders_cart_item_quantity")
        ),
        sa.ForeignKeyConstraint(
            ["cart_id"], ["orders_cart.id"], name=op.f("fk_orders_cart_item_cart_id_orders_cart")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_cart_item")),
        sa.UniqueConstraint("cart_id", "variant_id", name="uq_orders_cart_item_variant"),
    )


def downgrade() -> None:
    op.drop_table("orders_cart_item")
    with op.batch_alter_table("orders_cart", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_cart_updated_at")
        batch_op.drop_index("uq_orders_cart_open_customer")

    op.drop_table("orders_cart")
