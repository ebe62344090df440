"""payment reuse guard: one succeeded payment per provider payment; payout settlement id

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Two checkouts presenting the same approved PayPal order / Razorpay payment at once:
    # the second to record its success meets this index and is recorded as failed.
    with op.batch_alter_table("payments_payment", schema=None) as batch_op:
        batch_op.create_index(
            "uq_payments_payment_provider_succeeded",
            ["provider", "provider_payment_id"],
            unique=True,
            sqlite_where=sa.text("status = 'succeeded'"),
            postgresql_where=sa.text("status = 'succeeded'"),
        )
    # The id a provider's statements list a payout under (PayPal: the payout item's
    # transaction), which reconciliation pairs with the payout's ledger movement.
    with op.batch_alter_table("payments_payout", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("provider_settlement_id", sa.String(length=100), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("payments_payout", schema=None) as batch_op:
        batch_op.drop_column("provider_settlement_id")
    with op.batch_alter_table("payments_payment", schema=None) as batch_op:
        batch_op.drop_index("uq_payments_payment_provider_succeeded")
