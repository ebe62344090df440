"""orders documents: receipts and vendor statements (PDFs in private storage)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders_document",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("vendor_order_id", sa.String(length=40), nullable=True),
        sa.Column("vendor_id", sa.String(length=40), nullable=True),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=60), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('receipt', 'vendor_statement')", name=op.f("ck_orders_document_kind")
        ),
        sa.CheckConstraint(
            "(kind = 'receipt' AND vendor_order_id IS NULL AND subject_id = order_id) OR "
            "(kind = 'vendor_statement' AND vendor_order_id IS NOT NULL "
            "AND subject_id = vendor_order_id)",
            name=op.f("ck_orders_document_subject"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders_document")),
    )
    with op.batch_alter_table("orders_document", schema=None) as batch_op:
        batch_op.create_index("ix_orders_document_order", ["order_id"], unique=False)
        batch_op.create_index("uq_orders_document_subject", ["kind", "subject_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("orders_document", schema=None) as batch_op:
        batch_op.drop_index("uq_orders_document_subject")
        batch_op.drop_index("ix_orders_document_order")
    op.drop_table("orders_document")
