"""identity users, tokens, api keys, roles, members

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 22:56:01.856448
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_api_key",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_identity_api_key_key_hash")),
    )
    with op.batch_alter_table("identity_api_key", schema=None) as batch_op:
        batch_op.create_index(
            "ix_identity_api_key_vendor_id", ["vendor_id", "created_at"], unique=False
        )

    op.create_table(
        "identity_refresh_token",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("family_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_refresh_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_identity_refresh_token_token_hash")),
    )
    with op.batch_alter_table("identity_refresh_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_refresh_token_family_id"), ["family_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_identity_refresh_token_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "identity_user",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone_encrypted", sa.String(length=512), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("platform_role", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_user")),
        sa.UniqueConstraint("email", name=op.f("uq_identity_user_email")),
    )
    op.create_table(
        "identity_vendor_member",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_vendor_member")),
    )
    with op.batch_alter_table("identity_vendor_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_vendor_member_user_id"), ["user_id"], unique=False
        )
        batch_op.create_index(
            "uq_identity_vendor_member_vendor_user", ["vendor_id", "user_id"], unique=True
        )

    op.create_table(
        "identity_vendor_role",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_vendor_role")),
    )
    with op.batch_alter_table("identity_vendor_role", schema=None) as batch_op:
        batch_op.create_index(
            "uq_identity_vendor_role_vendor_name", ["vendor_id", "name"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("identity_vendor_role", schema=None) as batch_op:
        batch_op.drop_index("uq_identity_vendor_role_vendor_name")

    op.drop_table("identity_vendor_role")
    with op.batch_alter_table("identity_vendor_member", schema=None) as batch_op:
        batch_op.drop_index("uq_identity_vendor_member_vendor_user")
        batch_op.drop_index(batch_op.f("ix_identity_vendor_member_user_id"))

    op.drop_table("identity_vendor_member")
    op.drop_table("identity_user")
    with op.batch_alter_table("identity_refresh_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_refresh_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_identity_refresh_token_family_id"))

    op.drop_table("identity_refresh_token")
    with op.batch_alter_table("identity_api_key", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_api_key_vendor_id")

    op.drop_table("identity_api_key")
