"""catalog

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 23:31:00.134897
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_category",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("parent_id", sa.String(length=40), nullable=True),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("translations", sa.JSON(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["catalog_category.id"],
            name=op.f("fk_catalog_category_parent_id_catalog_category"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_category")),
        sa.UniqueConstraint("slug", name=op.f("uq_catalog_category_slug")),
    )
    with op.batch_alter_table("catalog_category", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_category_path"), ["path"], unique=False)

    op.create_table(
        "catalog_vendor_listing",
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.Column("listable", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("vendor_id", name=op.f("pk_catalog_vendor_listing")),
    )
    op.create_table(
        "catalog_product",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("category_id", sa.String(length=40), nullable=False),
        sa.Column("category_path", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=12), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("translations", sa.JSON(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("min_price_amount", sa.Integer(), nullable=False),
        sa.Column("max_price_amount", sa.Integer(), nullable=False),
        sa.Column("in_stock", sa.Boolean(), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("rating_score", sa.Integer(), nullable=False),
        sa.Column("search_document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["catalog_category.id"],
            name=op.f("fk_catalog_product_category_id_catalog_category"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_product")),
    )
    with op.batch_alter_table("catalog_product", schema=None) as batch_op:
        batch_op.create_index(
            "ix_catalog_product_browse_newest", ["visible", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_catalog_product_browse_price",
            ["visible", "currency", "min_price_amount", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_catalog_product_browse_rating", ["visible", "rating_score", "id"], unique=False
        )
        batch_op.create_index(
            "ix_catalog_product_category_path", ["category_path", "visible"], unique=False
        )
        batch_op.create_index(
            "ix_catalog_product_vendor", ["vendor_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "catalog_variant",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=40), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("price_amount", sa.Integer(), nullable=False),
        sa.Column("price_currency", sa.String(length=3), nullable=False),
        sa.Column("regional_prices", sa.JSON(), nullable=False),
        sa.Column("in_stock", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["catalog_product.id"],
            name=op.f("fk_catalog_variant_product_id_catalog_product"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_variant")),
    )
    with op.batch_alter_table("catalog_variant", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_variant_product_id"), ["product_id"], unique=False
        )
        batch_op.create_index(
            "uq_catalog_variant_vendor_sku",
            ["vendor_id", "sku"],
            unique=True,
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )

    # Full-text search: a tsvector with a GIN index on PostgreSQL, an FTS5 table on SQLite.
    # Neither is in the ORM models (each exists on one backend only); the catalog
    # repository keeps them in step with `search_document`.
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("catalog_product", sa.Column("search_vector", postgresql.TSVECTOR()))
        op.create_index(
            "ix_catalog_product_search_vector",
            "catalog_product",
            ["search_vector"],
            postgresql_using="gin",
        )
        # Prefix matches on the category path ("/cat_a/%") need the pattern operator class.
        op.create_index(
            "ix_catalog_product_category_prefix",
            "catalog_product",
            [sa.text("category_path text_pattern_ops"), "visible"],
        )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE catalog_product_fts USING fts5("
            "product_id UNINDEXED, document, tokenize = 'unicode61 remove_diacritics 2')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS catalog_product_fts")
    with op.batch_alter_table("catalog_variant", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_catalog_variant_vendor_sku",
            postgresql_where=sa.text("deleted_at IS NULL"),
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_catalog_variant_product_id"))

    op.drop_table("catalog_variant")
    with op.batch_alter_table("catalog_product", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_product_vendor")
        batch_op.drop_index("ix_catalog_product_category_path")
        batch_op.drop_index("ix_catalog_product_browse_rating")
        batch_op.drop_index("ix_catalog_product_browse_price")
        batch_op.drop_index("ix_catalog_product_browse_newest")

    op.drop_table("catalog_product")
    op.drop_table("catalog_vendor_listing")
    with op.batch_alter_table("catalog_category", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_category_path"))

    op.drop_table("catalog_category")
