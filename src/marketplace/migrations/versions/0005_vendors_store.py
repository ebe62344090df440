"""vendors stores

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 23:13:45.434359
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vendors_payout_account",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("details_encrypted", sa.Text(), nullable=False),
        sa.Column("masked", sa.String(length=40), nullable=False),
        sa.Column("wallet_provider", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors_payout_account")),
        sa.UniqueConstraint("vendor_id", name=op.f("uq_vendors_payout_account_vendor_id")),
    )
    op.create_table(
        "vendors_shipping_option",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("price_amount", sa.Integer(), nullable=False),
        sa.Column("price_currency", sa.String(length=3), nullable=False),
        sa.Column("delivery_days_min", sa.Integer(), nullable=False),
        sa.Column("delivery_days_max", sa.Integer(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors_shipping_option")),
    )
    with op.batch_alter_table("vendors_shipping_option", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vendors_shipping_option_vendor_id"), ["vendor_id"], unique=False
        )

    op.create_table(
        "vendors_staff_invitation",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors_staff_invitation")),
    )
    with op.batch_alter_table("vendors_staff_invitation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vendors_staff_invitation_email"), ["email"], unique=False
        )
        batch_op.create_index(
            "ix_vendors_staff_invitation_vendor", ["vendor_id", "status"], unique=False
        )

    op.create_table(
        "vendors_vendor",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("tax_id_encrypted", sa.String(length=512), nullable=True),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("default_currency", sa.String(length=3), nullable=False),
        sa.Column("currencies", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("logo_url", sa.String(length=500), nullable=True),
        sa.Column("banner_url", sa.String(length=500), nullable=True),
        sa.Column("support_email", sa.String(length=320), nullable=True),
        sa.Column("support_phone", sa.String(length=32), nullable=True),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("return_window_days", sa.Integer(), nullable=False),
        sa.Column("handling_days", sa.Integer(), nullable=False),
        sa.Column("vacation_mode", sa.Boolean(), nullable=False),
        sa.Column("vacation_message", sa.String(length=500), nullable=True),
        sa.Column("kyc_status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=1000), nullable=True),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("rating_total", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors_vendor")),
        sa.UniqueConstraint("slug", name=op.f("uq_vendors_vendor_slug")),
    )
    with op.batch_alter_table("vendors_vendor", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vendors_vendor_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_vendors_vendor_status_created", ["status", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("vendors_vendor", schema=None) as batch_op:
        batch_op.drop_index("ix_vendors_vendor_status_created")
        batch_op.drop_index(batch_op.f("ix_vendors_vendor_status"))

    op.drop_table("vendors_vendor")
    with op.batch_alter_table("vendors_staff_invitation", schema=None) as batch_op:
        batch_op.drop_index("ix_vendors_staff_invitation_vendor")
        batch_op.drop_index(batch_op.f("ix_vendors_staff_invitation_email"))

    op.drop_table("vendors_staff_invitation")
    with op.batch_alter_table("vendors_shipping_option", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vendors_shipping_option_vendor_id"))

    op.drop_table("vendors_shipping_option")
    op.drop_table("vendors_payout_account")
