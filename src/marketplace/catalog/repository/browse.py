"""The browse and search query: filters, full-text match and the five sort orders.

Only `visible` products are ever returned (active, not deleted, vendor approved). Full-text
search uses PostgreSQL's tsvector with a GIN index, or SQLite's FTS5 table on the embedded
default; relevance is an integer score so keyset cursors compare it exactly.

A page is one statement: the category (an id or a slug) is resolved inside it, the vendor's
name is joined in and each product's first shown image comes as one JSON value, so a list
costs one round trip and no ORM instance whatever its filters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Integer,
    Select,
    Text,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import array

from marketplace.catalog.domain.product import Sort, fts5_query, tsquery
from marketplace.catalog.models import Category, Product, ProductImage, VendorListing
from marketplace.platform.pagination import SortKey

# Images a page shows (see `service.images.VISIBLE_STATUSES`).
SHOWN_IMAGE_STATUSES = ("processing", "ready")

# Table columns, not ORM attributes: the statement compiles and runs as plain Core.
_p: Any = Product.__table__.c
_image: Any = ProductImage.__table__.c
_listing: Any = VendorListing.__table__.c
_category: Any = Category.__table__.c

SUMMARY_COLUMNS: tuple[Any, ...] = (
    _p.id,
    _p.vendor_id,
    _p.category_id,
    _p.language,
    _p.title,
    _p.translations,
    _p.currency,
    _p.min_price_amount,
    _p.max_price_amount,
    _p.in_stock,
    _p.rating_count,
    _p.rating_score,
    _p.created_at,
)
"""The columns of a list row (`ProductSummary`); `browse` rows also carry `vendor_name`,
`vendor_slug`, `image` (the first shown image as a dict, or None) and, when searching,
`rank`."""

_fts = table("catalog_product_fts", column("product_id"), column("document"))


@dataclass(frozen=True, slots=True)
class BrowseFilters:
    terms: Sequence[str] = ()
    category: str | None = None  # id or slug, with its subcategories
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


def _first_image(postgres: bool) -> Any:
    """The product's first shown image as one JSON object (ImageRead's fields), or NULL.

    A correlated subquery in the select list: PostgreSQL evaluates it only for the rows
    left after ORDER BY ... LIMIT, so a page reads at most a page of images, by index.
    """
    image = _image
    build = func.json_build_object if postgres else func.json_object
    thumbnails = image.thumbnail_urls if postgres else func.json(image.thumbnail_urls)
    first = (
        select(
            build(
                "id",
                image.id,
                "url",
                image.url,
                "thumbnails",
                thumbnails,
                "alt_text",
                image.alt_text,
                "position",
                image.position,
            )
        )
        .where(
            image.product_id == _p.id,
            image.status.in_(SHOWN_IMAGE_STATUSES),
        )
        .order_by(image.position, image.id)
        .limit(1)
        .scalar_subquery()
    )
    # Typed, not CAST: decoded by the engine's JSON deserializer (orjson).
    return type_coerce(first, JSON).label("image")


def category_of(id_or_slug: str, wanted: Any) -> Any:
    """The id or path (`wanted`) of the category with this id or slug (an id wins)."""
    return (
        select(wanted)
        .where(or_(_category.id == id_or_slug, _category.slug == id_or_slug))
        .order_by((_category.id == id_or_slug).desc())
        .limit(1)
        .scalar_subquery()
    )


def browse(dialect: str, filters: BrowseFilters, sort: Sort) -> BrowseQuery:
    # Plain rows of the columns a list shows (table columns: no ORM on this path), with the
    # vendor's name joined in: no description or search document.
    postgres = dialect == "postgresql"
    stmt = (
        select(
            *SUMMARY_COLUMNS,
            _listing.name.label("vendor_name"),
            _listing.slug.label("vendor_slug"),
            _first_image(postgres),
        )
        .select_from(Product.__table__)
        .outerjoin(
            VendorListing.__table__,
            _listing.vendor_id == _p.vendor_id,
        )
        .where(_p.visible.is_(True))
    )
    rank = None
    if filters.terms and postgres:
        # Matched and ranked in the product row itself: with a category too, PostgreSQL
        # intersects the text and category indexes before reading any row.
        query = func.to_tsquery("simple", tsquery(filters.terms))
        rank = cast(func.ts_rank(_search_vector, query) * 1_000_000, Integer).label("rank")
        stmt = stmt.where(_search_vector.op("@@")(query)).add_columns(rank)
    elif filters.terms:
        ranked = _fts5_ranked(filters.terms)
        stmt = stmt.join(ranked, ranked.c.pid == _p.id).add_columns(ranked.c.rank)
        rank = ranked.c.rank
    if filters.category and postgres:
        # The category's own id is in `category_ids` of every product below it; resolved in
        # the statement (one value, computed once), it is still a GIN index condition.
        wanted = array([cast(category_of(filters.category, _category.id), Text)])
        stmt = stmt.where(_category_ids.op("@>")(wanted))
    elif filters.category:
        path = category_of(filters.category, _category.path)
        stmt = stmt.where(func.substr(_p.category_path, 1, func.length(path)) == path)
    if filters.vendor_id:
        stmt = stmt.where(_p.vendor_id == filters.vendor_id)
    if filters.currency:
        stmt = stmt.where(_p.currency == filters.currency)
    if filters.min_price is not None:
        stmt = stmt.where(_p.max_price_amount >= filters.min_price)
    if filters.max_price is not None:
        stmt = stmt.where(_p.min_price_amount <= filters.max_price)
    if filters.in_stock is not None:
        stmt = stmt.where(_p.in_stock.is_(filters.in_stock))
    if filters.min_rating is not None:
        stmt = stmt.where(_p.rating_score >= filters.min_rating)

    if sort == "relevance" and rank is not None:
        keys = [SortKey(rank, descending=True), SortKey(_p.id)]
        return BrowseQuery(stmt, keys, lambda row: (row.rank, row.id))
    if sort == "price_asc":
        keys = [SortKey(_p.min_price_amount), SortKey(_p.id)]
        return BrowseQuery(stmt, keys, lambda row: (row.min_price_amount, row.id))
    if sort == "price_desc":
        keys = [
            SortKey(_p.min_price_amount, descending=True),
            SortKey(_p.id, descending=True),
        ]
        return BrowseQuery(stmt, keys, lambda row: (row.min_price_amount, row.id))
    if sort == "rating":
        keys = [
            SortKey(_p.rating_score, descending=True),
            SortKey(_p.id, descending=True),
        ]
        return BrowseQuery(stmt, keys, lambda row: (row.rating_score, row.id))
    # newest, and relevance without a query
    keys = [SortKey(_p.created_at, descending=True), SortKey(_p.id, descending=True)]
    return BrowseQuery(stmt, keys, lambda row: (row.created_at, row.id))
