"""compliance audit log and its chain head

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 23:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compliance_audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_compliance_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_audit_head")),
    )

    op.create_table(
        "compliance_audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=120), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=128), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_compliance_audit_log")),
        sa.UniqueConstraint("id", name=op.f("uq_compliance_audit_log_id")),
    )
    with op.batch_alter_table("compliance_audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_compliance_audit_log_actor", ["actor_id", "seq"], unique=False)
        batch_op.create_index("ix_compliance_audit_log_occurred_at", ["occurred_at"], unique=False)
        batch_op.create_index(
            "ix_compliance_audit_log_resource",
            ["resource_type", "resource_id", "seq"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("compliance_audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_compliance_audit_log_resource")
        batch_op.drop_index("ix_compliance_audit_log_occurred_at")
        batch_op.drop_index("ix_compliance_audit_log_actor")

    op.drop_table("compliance_audit_log")
    op.drop_table("compliance_audit_head")
