"""inventory

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 23:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventory_stock",
        sa.Column("variant_id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("low_stock_threshold", sa.Integer(), nullable=False),
        sa.Column("low_stock_alerted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "reserved >= 0 AND reserved <= on_hand", name=op.f("ck_inventory_stock_reserved")
        ),
        sa.CheckConstraint(
            "low_stock_threshold >= 0", name=op.f("ck_inventory_stock_low_stock_threshold")
        ),
        sa.PrimaryKeyConstraint("variant_id", name=op.f("pk_inventory_stock")),
    )
    with op.batch_alter_table("inventory_stock", schema=None) as batch_op:
        batch_op.create_index(
            "uq_inventory_stock_vendor_sku",
            ["vendor_id", "sku"],
            unique=True,
            sqlite_where=sa.text("retired_at IS NULL"),
            postgresql_where=sa.text("retired_at IS NULL"),
        )

    op.create_table(
        "inventory_adjustment",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("variant_id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("reservation_id", sa.String(length=40), nullable=True),
        sa.Column("on_hand_after", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_adjustment")),
    )
    with op.batch_alter_table("inventory_adjustment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inventory_adjustment_variant", ["variant_id", "created_at"], unique=False
        )

    op.create_table(
        "inventory_reservation",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'committed', 'released', 'expired')",
            name=op.f("ck_inventory_reservation_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_reservation")),
    )
    with op.batch_alter_table("inventory_reservation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inventory_reservation_due", ["status", "expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inventory_reservation_reference"), ["reference"], unique=False
        )

    op.create_table(
        "inventory_reservation_line",
        sa.Column("reservation_id", sa.String(length=40), nullable=False),
        sa.Column("variant_id", sa.String(length=40), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_inventory_reservation_line_quantity")),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["inventory_reservation.id"],
            name=op.f("fk_inventory_reservation_line_reservation_id_inventory_reservation"),
        ),
        sa.PrimaryKeyConstraint(
            "reservation_id", "variant_id", name=op.f("pk_inventory_reservation_line")
        ),
    )


def downgrade() -> None:
    op.drop_table("inventory_reservation_line")
    with op.batch_alter_table("inventory_reservation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_reservation_reference"))
        batch_op.drop_index("ix_inventory_reservation_due")

    op.drop_table("inventory_reservation")
    with op.batch_alter_table("inventory_adjustment", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_adjustment_variant")

    op.drop_table("inventory_adjustment")
    with op.batch_alter_table("inventory_stock", schema=None) as batch_op:
        batch_op.drop_index("uq_inventory_stock_vendor_sku")

    op.drop_table("inventory_stock")
