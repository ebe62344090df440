"""platform outbox, deliveries, idempotency keys, schedule

Revision ID: 0001
Revises:
Create Date: 2026-11-24 22:38:17.335949
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_delivery",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("handler", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lock_token", sa.String(length=40), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_delivery")),
    )
    with op.batch_alter_table("platform_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_platform_delivery_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "uq_platform_delivery_message_handler", ["message_id", "handler"], unique=True
        )

    op.create_table(
        "platform_idempotency_key",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("lock_token", sa.String(length=40), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_idempotency_key")),
    )
    with op.batch_alter_table("platform_idempotency_key", schema=None) as batch_op:
        batch_op.create_index(
            "ix_platform_idempotency_key_expires_at", ["expires_at"], unique=False
        )
        batch_op.create_index(
            "uq_platform_idempotency_key_scope_key", ["scope", "key"], unique=True
        )

    op.create_table(
        "platform_outbox_message",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_platform_outbox_message")),
        sa.UniqueConstraint("id", name=op.f("uq_platform_outbox_message_id")),
    )
    with op.batch_alter_table("platform_outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_platform_outbox_message_unpublished", ["published_at", "seq"], unique=False
        )

    op.create_table(
        "platform_schedule",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_platform_schedule")),
    )


def downgrade() -> None:
    op.drop_table("platform_schedule")
    with op.batch_alter_table("platform_outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_platform_outbox_message_unpublished")

    op.drop_table("platform_outbox_message")
    with op.batch_alter_table("platform_idempotency_key", schema=None) as batch_op:
        batch_op.drop_index("uq_platform_idempotency_key_scope_key")
        batch_op.drop_index("ix_platform_idempotency_key_expires_at")

    op.drop_table("platform_idempotency_key")
    with op.batch_alter_table("platform_delivery", schema=None) as batch_op:
        batch_op.drop_index("uq_platform_delivery_message_handler")
        batch_op.drop_index("ix_platform_delivery_due")

    op.drop_table("platform_delivery")
