"""The browse and search query: filters, full-text match and the five sort orders.

Only `visible` products are ever returned (active, not deleted, vendor approved). Full-text
search uses PostgreSQL's tsvector with a GIN index, or SQLite's FTS5 table on the embedded
default; relevance is an integer score so keyset cursors compare it exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    Text,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from marketplace.catalog.domain.product import Sort, fts5_query, tsquery
from marketplace.catalog.models import Product, VendorListing
from marketplace.platform.pagination import SortKey

SUMMARY_COLUMNS: tuple[Any, ...] = (
    Product.id,
    Product.vendor_id,
    Product.category_id,
    Product.language,
    Product.title,
    Product.translations,
    Product.currency,
    Product.min_price_amount,
    Product.max_price_amount,
    Product.in_stock,
    Product.rating_count,
    Product.rating_score,
    Product.created_at,
)
"""The columns of a list row (`ProductSummary`); `browse` rows also carry `vendor_name`,
`vendor_slug` and, when searching, `rank`."""

_fts = table("catalog_product_fts", column("product_id"), column("document"))


@dataclass(frozen=True, slots=True)
class BrowseFilters:
    terms: Sequence[str] = ()
    category_path: str | None = None
    vendor_id: str | None = None
    currency: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    min_rating: int | None = None  # stars x 100


@dataclass(frozen=True, slots=True)
class BrowseQuery:
    stmt: Select[Any]
    keys: list[SortKey]
    cursor_of: Callable[[Any], Sequence[Any]]


def _fts5_ranked(terms: Sequence[str]) -> Any:
    """(product id, integer relevance) of products matching every term (SQLite FTS5)."""
    score = cast(func.bm25(literal_column("catalog_product_fts")) * -1_000_000, Integer)
    return (
        select(_fts.c.product_id.label("pid"), score.label("rank"))
        .select_from(_fts)
        .where(text("catalog_product_fts MATCH :fts_query").bindparams(fts_query=fts5_query(terms)))
        .subquery("ranked")
    )


# PostgreSQL-only columns of the product row (see the 0007 and 0010 migrations).
_search_vector: Any = literal_column("catalog_product.search_vector")
_category_ids: Any = literal_column("catalog_product.category_ids")


def browse(dialect: str, filters: BrowseFilters, sort: Sort) -> BrowseQuery:
    # Plain rows of the columns a list shows, with the vendor's name joined in: no
    # description or search document, no ORM instances, one query for the page.
    stmt = (
        select(
            *SUMMARY_COLUMNS,
            VendorListing.name.label("vendor_name"),
            VendorListing.slug.label("vendor_slug"),
        )
        .select_from(Product)
        .outerjoin(VendorListing, VendorListing.vendor_id == Product.vendor_id)
        .where(Product.visible.is_(True))
    )
    rank = None
    postgres = dialect == "postgresql"
    if filters.terms and postgres:
        # Matched and ranked in the product row itself: with a category too, PostgreSQL
        # intersects the text and category indexes before reading any row.
        query = func.to_tsquery("simple", tsquery(filters.terms))
        rank = cast(func.ts_rank(_search_vector, query) * 1_000_000, Integer).label("rank")
        stmt = stmt.where(_search_vector.op("@@")(query)).add_columns(rank)
    elif filters.terms:
        ranked = _fts5_ranked(filters.terms)
        stmt = stmt.join(ranked, ranked.c.pid == Product.id).add_columns(ranked.c.rank)
        rank = ranked.c.rank
    if filters.category_path and postgres:
        leaf = filters.category_path.strip("/").split("/")[-1]
        wanted = bindparam("category_ids", [leaf], type_=ARRAY(Text))
        stmt = stmt.where(_category_ids.op("@>")(wanted))
    elif filters.category_path:
        stmt = stmt.where(Product.category_path.startswith(filters.category_path))
    if filters.vendor_id:
        stmt = stmt.where(Product.vendor_id == filters.vendor_id)
    if filters.currency:
        stmt = stmt.where(Product.currency == filters.currency)
    if filters.min_price is not None:
        stmt = stmt.where(Product.max_price_amount >= filters.min_price)
    if filters.max_price is not None:
        stmt = stmt.where(Product.min_price_amount <= filters.max_price)
    if filters.in_stock is not None:
        stmt = stmt.where(Product.in_stock.is_(filters.in_stock))
    if filters.min_rating is not None:
        stmt = stmt.where(Product.rating_score >= filters.min_rating)

    if sort == "relevance" and rank is not None:
        keys = [SortKey(rank, descending=True), SortKey(Product.id)]
        return BrowseQuery(stmt, keys, lambda row: (row.rank, row.id))
    if sort == "price_asc":
        keys = [SortKey(Product.min_price_amount), SortKey(Product.id)]
        return BrowseQuery(stmt, keys, lambda row: (row.min_price_amount, row.id))
    if sort == "price_desc":
        keys = [
            SortKey(Product.min_price_amount, descending=True),
            SortKey(Product.id, descending=True),
        ]
        return BrowseQuery(stmt, keys, lambda row: (row.min_price_amount, row.id))
    if sort == "rating":
        keys = [
            SortKey(Product.rating_score, descending=True),
            SortKey(Product.id, descending=True),
        ]
        return BrowseQuery(stmt, keys, lambda row: (row.rating_score, row.id))
    # newest, and relevance without a query
    keys = [SortKey(Product.created_at, descending=True), SortKey(Product.id, descending=True)]
    return BrowseQuery(stmt, keys, lambda row: (row.created_at, row.id))
