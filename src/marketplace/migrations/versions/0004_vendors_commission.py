"""vendors commission rules

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vendors_commission_rule",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=40), nullable=True),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("percent_bps", sa.Integer(), nullable=True),
        sa.Column("flat_amount", sa.BigInteger(), nullable=True),
        sa.Column("flat_currency", sa.String(length=3), nullable=True),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "scope IN ('vendor', 'category', 'default')",
            name=op.f("ck_vendors_commission_rule_scope"),
        ),
        sa.CheckConstraint(
            "(scope = 'default') = (scope_id IS NULL)",
            name=op.f("ck_vendors_commission_rule_scope_id"),
        ),
        sa.CheckConstraint(
            "type IN ('percent', 'flat', 'percent_plus_flat')",
            name=op.f("ck_vendors_commission_rule_type"),
        ),
        sa.CheckConstraint(
            "percent_bps IS NULL OR (percent_bps >= 0 AND percent_bps <= 10000)",
            name=op.f("ck_vendors_commission_rule_percent_bps"),
        ),
        sa.CheckConstraint(
            "(flat_amount IS NULL) = (flat_currency IS NULL) "
            "AND (flat_amount IS NULL OR flat_amount >= 0)",
            name=op.f("ck_vendors_commission_rule_flat"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors_commission_rule")),
    )
    with op.batch_alter_table("vendors_commission_rule", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vendors_commission_rule_scope",
            ["scope", "scope_id", "effective_from"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("vendors_commission_rule", schema=None) as batch_op:
        batch_op.drop_index("ix_vendors_commission_rule_scope")

    op.drop_table("vendors_commission_rule")
