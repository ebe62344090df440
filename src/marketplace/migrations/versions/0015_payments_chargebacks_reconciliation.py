"""payments: chargebacks (provider disputes) and their allocations to vendor orders,
reconciliation runs and their mismatches, the sandbox provider's disputes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 20:52:33.906222
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payments_reconciliation_run",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("ledger_records", sa.Integer(), nullable=False),
        sa.Column("provider_records", sa.Integer(), nullable=False),
        sa.Column("mismatch_count", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=80), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'completed', 'failed')",
            name=op.f("ck_payments_reconciliation_run_status"),
        ),
        sa.CheckConstraint(
            "period_start < period_end", name=op.f("ck_payments_reconciliation_run_period")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_reconciliation_run")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_payments_reconciliation_run_dedupe_key")),
    )
    op.create_table(
        "payments_sandbox_dispute",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("intent_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_sandbox_dispute")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_payments_sandbox_dispute_intent_id")),
    )
    op.create_table(
        "payments_chargeback",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_dispute_id", sa.String(length=100), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=100), nullable=True),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fee_amount", sa.Integer(), nullable=False),
        sa.Column("unallocated_amount", sa.Integer(), nullable=False),
        sa.Column("commission_reversed", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'won', 'lost')", name=op.f("ck_payments_chargeback_status")
        ),
        sa.CheckConstraint(
            "amount > 0 AND fee_amount >= 0 AND unallocated_amount >= 0 "
            "AND unallocated_amount <= amount",
            name=op.f("ck_payments_chargeback_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments_payment.id"],
            name=op.f("fk_payments_chargeback_payment_id_payments_payment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_chargeback")),
    )
    with op.batch_alter_table("payments_chargeback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payments_chargeback_payment_id"), ["payment_id"], unique=False
        )
        batch_op.create_index("ix_payments_chargeback_status", ["status", "id"], unique=False)
        batch_op.create_index(
            "uq_payments_chargeback_provider_dispute",
            ["provider", "provider_dispute_id"],
            unique=True,
        )

    op.create_table(
        "payments_reconciliation_mismatch",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("provider_object_id", sa.String(length=100), nullable=False),
        sa.Column("problem", sa.String(length=30), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("ledger_amount", sa.Integer(), nullable=True),
        sa.Column("provider_amount", sa.Integer(), nullable=True),
        sa.Column("ledger_fee", sa.Integer(), nullable=True),
        sa.Column("provider_fee", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=40), nullable=True),
        sa.CheckConstraint(
            "problem IN ('missing_in_ledger', 'missing_at_provider', 'amount_differs')",
            name=op.f("ck_payments_reconciliation_mismatch_problem"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["payments_reconciliation_run.id"],
            name=op.f("fk_payments_reconciliation_mismatch_run_id_payments_reconciliation_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_reconciliation_mismatch")),
    )
    with op.batch_alter_table("payments_reconciliation_mismatch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payments_reconciliation_mismatch_run", ["run_id", "id"], unique=False
        )

    op.create_table(
        "payments_chargeback_allocation",
        sa.Column("chargeback_id", sa.String(length=40), nullable=False),
        sa.Column("vendor_order_id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("range_start", sa.Integer(), nullable=False),
        sa.Column("from_available", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "amount > 0 AND range_start >= 0",
            name=op.f("ck_payments_chargeback_allocation_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["chargeback_id"],
            ["payments_chargeback.id"],
            name=op.f("fk_payments_chargeback_allocation_chargeback_id_payments_chargeback"),
        ),
        sa.PrimaryKeyConstraint(
            "chargeback_id", "vendor_order_id", name=op.f("pk_payments_chargeback_allocation")
        ),
    )
    with op.batch_alter_table("payments_chargeback_allocation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payments_chargeback_allocation_vendor_order", ["vendor_order_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("payments_chargeback_allocation", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_chargeback_allocation_vendor_order")

    op.drop_table("payments_chargeback_allocation")
    with op.batch_alter_table("payments_reconciliation_mismatch", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_reconciliation_mismatch_run")

    op.drop_table("payments_reconciliation_mismatch")
    with op.batch_alter_table("payments_chargeback", schema=None) as batch_op:
        batch_op.drop_index("uq_payments_chargeback_provider_dispute")
        batch_op.drop_index("ix_payments_chargeback_status")
        batch_op.drop_index(batch_op.f("ix_payments_chargeback_payment_id"))

    op.drop_table("payments_chargeback")
    op.drop_table("payments_sandbox_dispute")
    op.drop_table("payments_reconciliation_run")
