"""The browse and search query: filters, full-text match and the five sort orders.

Only `visible` products are ever returned (active, not deleted, vendor approved). Full-text
search uses PostgreSQL's tsvector with a GIN index, or SQLite's FTS5 table on the embedded
default; relevance is an integer score so keyset cursors compare it exactly.

A page is one statement: the category (an id or a slug) is resolved inside it, the vendor's
name is joined in and each product's first shown image comes as one JSON value, so a list
costs one round trip and no ORM instance whatever its filters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
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
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.catalog.domain.images import VISIBLE_STATUSES
from marketplace.catalog.domain.product import Sort, fts5_query, tsquery
from marketplace.catalog.models import Category, Product, ProductImage, VendorListing
from marketplace.platform.pagination import PageParams, SortKey, decode_cursor, encode_cursor

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


def _fts5_ranked() -> Any:
    """(product id, integer relevance) of products matching `:fts_query` (SQLite FTS5)."""
    score = cast(func.bm25(literal_column("catalog_product_fts")) * -1_000_000, Integer)
    return (
        select(_fts.c.product_id.label("pid"), score.label("rank"))
        .select_from(_fts)
        .where(text("catalog_product_fts MATCH :fts_query"))
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
            image.status.in_(VISIBLE_STATUSES),
        )
        .order_by(image.position, image.id)
        .limit(1)
        .scalar_subquery()
    )
    # Typed, not CAST: decoded by the engine's JSON deserializer (orjson).
    return type_coerce(first, JSON).label("image")


def category_of(id_or_slug: Any, wanted: Any) -> Any:
    """The id or path (`wanted`) of the category with this id or slug (an id wins)."""
    return (
        select(wanted)
        .where(or_(_category.id == id_or_slug, _category.slug == id_or_slug))
        .order_by((_category.id == id_or_slug).desc())
        .limit(1)
        .scalar_subquery()
    )


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a browse statement's SQL depends on; values are parameters of it."""

    postgres: bool
    search: bool
    category: bool
    vendor: bool
    currency: bool
    min_price: bool
    max_price: bool
    in_stock: bool | None
    min_rating: bool
    sort: Sort
    after: bool  # a cursor: the page starts after its row


@dataclass(frozen=True, slots=True)
class _Statement:
    stmt: Select[Any]
    keys: int
    cursor_of: Callable[[Any], Sequence[Any]]


def _sort_keys(shape: _Shape, rank: Any) -> tuple[list[SortKey], Callable[[Any], Sequence[Any]]]:
    if shape.sort == "relevance" and rank is not None:
        return [SortKey(rank, descending=True), SortKey(_p.id)], lambda r: (r.rank, r.id)
    if shape.sort == "price_asc":
        keys = [SortKey(_p.min_price_amount), SortKey(_p.id)]
        return keys, lambda r: (r.min_price_amount, r.id)
    if shape.sort == "price_desc":
        keys = [SortKey(_p.min_price_amount, descending=True), SortKey(_p.id, descending=True)]
        return keys, lambda r: (r.min_price_amount, r.id)
    if shape.sort == "rating":
        keys = [SortKey(_p.rating_score, descending=True), SortKey(_p.id, descending=True)]
        return keys, lambda r: (r.rating_score, r.id)
    # newest, and relevance without a query
    keys = [SortKey(_p.created_at, descending=True), SortKey(_p.id, descending=True)]
    return keys, lambda r: (r.created_at, r.id)


@functools.lru_cache(maxsize=512)
def _statement(shape: _Shape) -> _Statement:
    """The statement of one shape, built once: every value is a bound parameter, so a page
    costs SQLAlchemy a cache lookup instead of building and compiling a select."""
    stmt = (
        select(
            *SUMMARY_COLUMNS,
            _listing.name.label("vendor_name"),
            _listing.slug.label("vendor_slug"),
            _first_image(shape.postgres),
        )
        .select_from(Product.__table__)
        .outerjoin(VendorListing.__table__, _listing.vendor_id == _p.vendor_id)
        .where(_p.visible.is_(True))
    )
    rank = None
    if shape.search and shape.postgres:
        # Matched and ranked in the product row itself: with a category too, PostgreSQL
        # intersects the text and category indexes before reading any row.
        query = func.to_tsquery("simple", bindparam("tsquery", type_=Text))
        rank = cast(func.ts_rank(_search_vector, query) * 1_000_000, Integer).label("rank")
        stmt = stmt.where(_search_vector.op("@@")(query)).add_columns(rank)
    elif shape.search:
        ranked = _fts5_ranked()
        stmt = stmt.join(ranked, ranked.c.pid == _p.id).add_columns(ranked.c.rank)
        rank = ranked.c.rank
    category = bindparam("category", type_=Text)
    if shape.category and shape.postgres:
        # The category's own id is in `category_ids` of every product below it; resolved in
        # the statement (one value, computed once), it is still a GIN index condition.
        wanted = array([cast(category_of(category, _category.id), Text)])
        stmt = stmt.where(_category_ids.op("@>")(wanted))
    elif shape.category:
        path = category_of(category, _category.path)
        stmt = stmt.where(func.substr(_p.category_path, 1, func.length(path)) == path)
    if shape.vendor:
        stmt = stmt.where(_p.vendor_id == bindparam("vendor_id", type_=Text))
    if shape.currency:
        stmt = stmt.where(_p.currency == bindparam("currency", type_=Text))
    if shape.min_price:
        stmt = stmt.where(_p.max_price_amount >= bindparam("min_price", type_=Integer))
    if shape.max_price:
        stmt = stmt.where(_p.min_price_amount <= bindparam("max_price", type_=Integer))
    if shape.in_stock is not None:
        stmt = stmt.where(_p.in_stock.is_(shape.in_stock))
    if shape.min_rating:
        stmt = stmt.where(_p.rating_score >= bindparam("min_rating", type_=Integer))
    keys, cursor_of = _sort_keys(shape, rank)
    if shape.after:
        # (k1 > v1) OR (k1 = v1 AND k2 > v2), per key direction, as `paginate` does.
        values = [bindparam(f"after_{i}", type_=k.column.type) for i, k in enumerate(keys)]
        clauses = []
        for i, key in enumerate(keys):
            equal = [keys[j].column == values[j] for j in range(i)]
            beyond = key.column < values[i] if key.descending else key.column > values[i]
            clauses.append(and_(*equal, beyond))
        stmt = stmt.where(or_(*clauses))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    stmt = stmt.order_by(*order).limit(bindparam("limit", type_=Integer))
    return _Statement(stmt, len(keys), cursor_of)


async def browse_page(
    session: AsyncSession, filters: BrowseFilters, sort: Sort, page: PageParams
) -> tuple[list[Any], str | None]:
    """One page of visible products as plain rows, and the cursor of the next page."""
    postgres = session.get_bind().dialect.name == "postgresql"
    shape = _Shape(
        postgres=postgres,
        search=bool(filters.terms),
        category=filters.category is not None,
        vendor=filters.vendor_id is not None,
        currency=filters.currency is not None,
        min_price=filters.min_price is not None,
        max_price=filters.max_price is not None,
        in_stock=filters.in_stock,
        min_rating=filters.min_rating is not None,
        sort=sort,
        after=page.cursor is not None,
    )
    statement = _statement(shape)
    # A value for each parameter the shape's statement has, and no other.
    values = {
        "category": filters.category,
        "vendor_id": filters.vendor_id,
        "currency": filters.currency,
        "min_price": filters.min_price,
        "max_price": filters.max_price,
        "min_rating": filters.min_rating,
    }
    params: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    params["limit"] = page.limit + 1
    if filters.terms and postgres:
        params["tsquery"] = tsquery(filters.terms)
    elif filters.terms:
        params["fts_query"] = fts5_query(filters.terms)
    if page.cursor is not None:
        for i, value in enumerate(decode_cursor(page.cursor, statement.keys)):
            params[f"after_{i}"] = value
    rows = list((await session.execute(statement.stmt, params)).all())
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = encode_cursor(statement.cursor_of(rows[-1]))
    return rows, next_cursor
