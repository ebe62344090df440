"""catalog imports

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_product_import",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("file_bytes", sa.Integer(), nullable=False),
        sa.Column("file_chunks", sa.Integer(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=True),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("created_rows", sa.Integer(), nullable=False),
        sa.Column("updated_rows", sa.Integer(), nullable=False),
        sa.Column("failed_rows", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_by_kind", sa.String(length=10), nullable=False),
        sa.Column("created_by_role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_product_import")),
    )
    with op.batch_alter_table("catalog_product_import", schema=None) as batch_op:
        batch_op.create_index(
            "ix_catalog_product_import_vendor", ["vendor_id", "created_at"], unique=False
        )

    op.create_table(
        "catalog_product_import_chunk",
        sa.Column("import_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["catalog_product_import.id"],
            name=op.f("fk_catalog_product_import_chunk_import_id_catalog_product_import"),
        ),
        sa.PrimaryKeyConstraint("import_id", "seq", name=op.f("pk_catalog_product_import_chunk")),
    )
    op.create_table(
        "catalog_product_import_image",
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("url_hash", sa.String(length=64), nullable=False),
        sa.Column("image_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog_product.id"],
            name=op.f("fk_catalog_product_import_image_product_id_catalog_product"),
        ),
        sa.PrimaryKeyConstraint(
            "product_id", "url_hash", name=op.f("pk_catalog_product_import_image")
        ),
    )


def downgrade() -> None:
    op.drop_table("catalog_product_import_image")
    op.drop_table("catalog_product_import_chunk")
    with op.batch_alter_table("catalog_product_import", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_product_import_vendor")

    op.drop_table("catalog_product_import")
