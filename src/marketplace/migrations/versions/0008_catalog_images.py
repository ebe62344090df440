"""catalog images

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_product_image",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("alt_text", sa.String(length=300), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("thumbnails", sa.JSON(), nullable=False),
        sa.Column("thumbnail_urls", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog_product.id"],
            name=op.f("fk_catalog_product_image_product_id_catalog_product"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_product_image")),
    )
    with op.batch_alter_table("catalog_product_image", schema=None) as batch_op:
        batch_op.create_index(
            "ix_catalog_product_image_product", ["product_id", "position", "id"], unique=False
        )
        batch_op.create_index(
            "ix_catalog_product_image_status", ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("catalog_product_image", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_product_image_status")
        batch_op.drop_index("ix_catalog_product_image_product")

    op.drop_table("catalog_product_image")
