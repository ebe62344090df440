"""catalog: category ids of every product in an indexed array (PostgreSQL)

A search within a category ("teal" in Home, subcategories included) was a full-text match
followed by a prefix filter on each matching row: every product matching the word anywhere
was read and ranked. With the product's category and all its ancestors in an array under a
GIN index, PostgreSQL intersects the two indexes (BitmapAnd) and reads only the products
that match both. The column is generated from `category_path`, so no writer maintains it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 02:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE catalog_product ADD COLUMN category_ids text[] "
        "GENERATED ALWAYS AS (string_to_array(btrim(category_path, '/'), '/')) STORED"
    )
    op.execute(
        "CREATE INDEX ix_catalog_product_category_ids ON catalog_product USING gin (category_ids)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_catalog_product_category_ids")
    op.execute("ALTER TABLE catalog_product DROP COLUMN category_ids")
