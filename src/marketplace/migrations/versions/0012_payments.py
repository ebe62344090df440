"""payments: payments, shares, commission lines, refunds, webhook events, the ledger, the
sandbox provider's records

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 02:06:19.522267
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payments_ledger_transaction",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("vendor_order_id", sa.String(length=40), nullable=True),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("refund_id", sa.String(length=40), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('capture', 'fee', 'refund', 'release', 'payout', 'adjustment')",
            name=op.f("ck_payments_ledger_transaction_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_ledger_transaction")),
        sa.UniqueConstraint("key", name=op.f("uq_payments_ledger_transaction_key")),
    )
    with op.batch_alter_table("payments_ledger_transaction", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payments_ledger_transaction_order_id"), ["order_id"], unique=False
        )

    op.create_table(
        "payments_payment",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("payment_method", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("captured_amount", sa.Integer(), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column("fee_amount", sa.Integer(), nullable=False),
        sa.Column("provider_idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=100), nullable=True),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("failure_message", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'canceled')",
            name=op.f("ck_payments_payment_status"),
        ),
        sa.CheckConstraint(
            "amount > 0 AND captured_amount >= 0 AND captured_amount <= amount",
            name=op.f("ck_payments_payment_amounts"),
        ),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= captured_amount",
            name=op.f("ck_payments_payment_refunded"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_payment")),
        sa.UniqueConstraint("order_id", name=op.f("uq_payments_payment_order_id")),
        sa.UniqueConstraint(
            "provider_idempotency_key", name=op.f("uq_payments_payment_provider_idempotency_key")
        ),
    )
    with op.batch_alter_table("payments_payment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payments_payment_provider_payment_id"),
            ["provider_payment_id"],
            unique=False,
        )

    op.create_table(
        "payments_sandbox_event",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_sandbox_event")),
    )
    op.create_table(
        "payments_sandbox_intent",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_method", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("amount_received", sa.Integer(), nullable=False),
        sa.Column("amount_refunded", sa.Integer(), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("failure_message", sa.String(length=300), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_sandbox_intent")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_payments_sandbox_intent_idempotency_key")
        ),
    )
    op.create_table(
        "payments_sandbox_refund",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("intent_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_sandbox_refund")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_payments_sandbox_refund_idempotency_key")
        ),
    )
    op.create_table(
        "payments_webhook_event",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_event_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_webhook_event")),
    )
    with op.batch_alter_table("payments_webhook_event", schema=None) as batch_op:
        batch_op.create_index(
            "uq_payments_webhook_event_provider_event",
            ["provider", "provider_event_id"],
            unique=True,
        )

    op.create_table(
        "payments_ledger_posting",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=80), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=True),
        sa.Column("vendor_order_id", sa.String(length=40), nullable=True),
        sa.Column("order_item_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_payments_ledger_posting_amount")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["payments_ledger_transaction.id"],
            name=op.f("fk_payments_ledger_posting_transaction_id_payments_ledger_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_ledger_posting")),
    )
    with op.batch_alter_table("payments_ledger_posting", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payments_ledger_posting_account", ["account", "currency"], unique=False
        )
        batch_op.create_index(
            "ix_payments_ledger_posting_transaction", ["transaction_id"], unique=False
        )
        batch_op.create_index(
            "ix_payments_ledger_posting_vendor", ["vendor_id", "id"], unique=False
        )

    op.create_table(
        "payments_refund",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("vendor_order_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("provider_idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("provider_refund_id", sa.String(length=100), nullable=True),
        sa.Column("failure_code", sa.String(length=60), nullable=True),
        sa.Column("failure_message", sa.String(length=300), nullable=True),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_payments_refund_status")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_refund_amount")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments_payment.id"],
            name=op.f("fk_payments_refund_payment_id_payments_payment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_refund")),
        sa.UniqueConstraint(
            "provider_idempotency_key", name=op.f("uq_payments_refund_provider_idempotency_key")
        ),
    )
    with op.batch_alter_table("payments_refund", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payments_refund_payment_id"), ["payment_id"], unique=False
        )
        batch_op.create_index(
            "uq_payments_refund_order_key", ["order_id", "idempotency_key"], unique=True
        )

    op.create_table(
        "payments_share",
        sa.Column("vendor_order_id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("gross_amount", sa.Integer(), nullable=False),
        sa.Column("tax_amount", sa.Integer(), nullable=False),
        sa.Column("commission_amount", sa.Integer(), nullable=False),
        sa.Column("commission_tax_amount", sa.Integer(), nullable=False),
        sa.Column("platform_discount_amount", sa.Integer(), nullable=False),
        sa.Column("refund_reserved_amount", sa.Integer(), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column("hold_status", sa.String(length=10), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "hold_status IN ('none', 'holding', 'released')",
            name=op.f("ck_payments_share_hold_status"),
        ),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= refund_reserved_amount "
            "AND refund_reserved_amount <= gross_amount",
            name=op.f("ck_payments_share_refunds"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments_payment.id"],
            name=op.f("fk_payments_share_payment_id_payments_payment"),
        ),
        sa.PrimaryKeyConstraint("vendor_order_id", name=op.f("pk_payments_share")),
    )
    with op.batch_alter_table("payments_share", schema=None) as batch_op:
        batch_op.create_index("ix_payments_share_due", ["hold_status", "release_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_payments_share_payment_id"), ["payment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payments_share_vendor_id"), ["vendor_id"], unique=False
        )

    op.create_table(
        "payments_commission_line",
        sa.Column("vendor_order_id", sa.String(length=40), nullable=False),
        sa.Column("order_item_id", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=True),
        sa.Column("rate_bps", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_order_id"],
            ["payments_share.vendor_order_id"],
            name=op.f("fk_payments_commission_line_vendor_order_id_payments_share"),
        ),
        sa.PrimaryKeyConstraint(
            "vendor_order_id", "order_item_id", name=op.f("pk_payments_commission_line")
        ),
    )


def downgrade() -> None:
    op.drop_table("payments_commission_line")
    with op.batch_alter_table("payments_share", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_share_vendor_id"))
        batch_op.drop_index(batch_op.f("ix_payments_share_payment_id"))
        batch_op.drop_index("ix_payments_share_due")

    op.drop_table("payments_share")
    with op.batch_alter_table("payments_refund", schema=None) as batch_op:
        batch_op.drop_index("uq_payments_refund_order_key")
        batch_op.drop_index(batch_op.f("ix_payments_refund_payment_id"))

    op.drop_table("payments_refund")
    with op.batch_alter_table("payments_ledger_posting", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_ledger_posting_vendor")
        batch_op.drop_index("ix_payments_ledger_posting_transaction")
        batch_op.drop_index("ix_payments_ledger_posting_account")

    op.drop_table("payments_ledger_posting")
    with op.batch_alter_table("payments_webhook_event", schema=None) as batch_op:
        batch_op.drop_index("uq_payments_webhook_event_provider_event")

    op.drop_table("payments_webhook_event")
    op.drop_table("payments_sandbox_refund")
    op.drop_table("payments_sandbox_intent")
    op.drop_table("payments_sandbox_event")
    with op.batch_alter_table("payments_payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_payment_provider_payment_id"))

    op.drop_table("payments_payment")
    with op.batch_alter_table("payments_ledger_transaction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_ledger_transaction_order_id"))

    op.drop_table("payments_ledger_transaction")
