"""Product, variant and vendor-listing queries; the vendor filter (tenancy) lives here."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    JSON,
    String,
    Table,
    bindparam,
    delete,
    func,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.catalog.domain.images import VISIBLE_STATUSES
from marketplace.catalog.models import Product, ProductImage, Variant, VendorListing
from marketplace.platform import direct
from marketplace.platform.db import AnyRow


async def vendor_product(session: AsyncSession, vendor_id: str, product_id: str) -> Product | None:
    return await session.scalar(
        select(Product).where(
            Product.id == product_id, Product.vendor_id == vendor_id, Product.deleted_at.is_(None)
        )
    )


async def live_variants(session: AsyncSession, product_ids: Sequence[str]) -> Sequence[Variant]:
    """Variants of several products in one query, in display order."""
    if not product_ids:
        return []
    return (
        await session.scalars(
            select(Variant)
            .where(Variant.product_id.in_(product_ids), Variant.deleted_at.is_(None))
            .order_by(Variant.product_id, Variant.position)
        )
    ).all()


async def variant(session: AsyncSession, variant_id: str) -> Variant | None:
    return await session.scalar(
        select(Variant).where(Variant.id == variant_id, Variant.deleted_at.is_(None))
    )


async def variants_by_ids(session: AsyncSession, variant_ids: Sequence[str]) -> Sequence[Variant]:
    return (
        await session.scalars(
            select(Variant).where(Variant.id.in_(variant_ids), Variant.deleted_at.is_(None))
        )
    ).all()


_variant = cast(Table, Variant.__table__)
_product = cast(Table, Product.__table__)
# Carts and every checkout read these: the columns a sale copies, by a Core SELECT built once
# (its IN list expands at execution) rather than two entities per line.
_SALE_FACTS = (
    select(
        _variant.c.id,
        _variant.c.product_id,
        _variant.c.vendor_id,
        _variant.c.sku,
        _variant.c.attributes,
        _variant.c.price_amount,
        _variant.c.price_currency,
        _variant.c.regional_prices,
        _product.c.title,
        _product.c.category_id,
        _product.c.category_path,
        _product.c.visible,
    )
    .join(_product, _product.c.id == _variant.c.product_id)
    .where(_variant.c.id.in_(bindparam("the_ids", expanding=True)), _variant.c.deleted_at.is_(None))
)


async def sale_facts(session: AsyncSession, variant_ids: Sequence[str]) -> Sequence[AnyRow]:
    """Live variants with what a sale copies of them and their products, in one query
    (carts read many at once): the variant's id, product_id, vendor_id, sku, attributes,
    price_amount, price_currency and regional_prices, the product's title, category_id,
    category_path and visible."""
    if not variant_ids:
        return []
    return (await direct.execute(session, _SALE_FACTS, {"the_ids": list(set(variant_ids))})).all()


async def sku_owner(session: AsyncSession, vendor_id: str, sku: str) -> Variant | None:
    return await session.scalar(
        select(Variant).where(
            Variant.vendor_id == vendor_id, Variant.sku == sku, Variant.deleted_at.is_(None)
        )
    )


async def listing(session: AsyncSession, vendor_id: str) -> VendorListing | None:
    return await session.get(VendorListing, vendor_id)


async def listings(session: AsyncSession, vendor_ids: Sequence[str]) -> dict[str, VendorListing]:
    if not vendor_ids:
        return {}
    rows = await session.scalars(
        select(VendorListing).where(VendorListing.vendor_id.in_(set(vendor_ids)))
    )
    return {row.vendor_id: row for row in rows}


async def set_vendor_visibility(session: AsyncSession, vendor_id: str, listable: bool) -> None:
    await session.execute(
        update(Product)
        .where(Product.vendor_id == vendor_id, Product.deleted_at.is_(None))
        .values(visible=listable and (Product.status == "active"))
    )


async def refresh_product_stock(session: AsyncSession, product_id: str) -> None:
    """A product is in stock when any live variant is."""
    in_stock = select(Variant.id).where(
        Variant.product_id == product_id, Variant.deleted_at.is_(None), Variant.in_stock.is_(True)
    )
    await session.execute(
        update(Product).where(Product.id == product_id).values(in_stock=in_stock.exists())
    )


async def reindex(session: AsyncSession, dialect: str, product: Product) -> None:
    """Keep the full-text index in step with the product's searchable text."""
    if dialect == "postgresql":
        await session.execute(
            text(
                "UPDATE catalog_product SET search_vector = to_tsvector('simple', :doc) "
                "WHERE id = :id"
            ),
            {"doc": product.search_document, "id": product.id},
        )
        return
    await session.execute(
        text("DELETE FROM catalog_product_fts WHERE product_id = :id"), {"id": product.id}
    )
    await session.execute(
        text("INSERT INTO catalog_product_fts (product_id, document) VALUES (:id, :doc)"),
        {"id": product.id, "doc": product.search_document},
    )


async def drop_variants(session: AsyncSession, variant_ids: Sequence[str]) -> None:
    await session.execute(delete(Variant).where(Variant.id.in_(variant_ids)))


async def products_by_ids(session: AsyncSession, product_ids: Sequence[str]) -> Sequence[Product]:
    if not product_ids:
        return []
    return (await session.scalars(select(Product).where(Product.id.in_(set(product_ids))))).all()


# --- the public product page in one statement ---------------------------------------------
_p: Any = Product.__table__.c
_v: Any = Variant.__table__.c
_i: Any = ProductImage.__table__.c
_l: Any = VendorListing.__table__.c


def _json_list(postgres: bool, fields: dict[str, Any], where: Any, order: Sequence[Any]) -> Any:
    """A JSON array of one object per matching row, in `order` (`[]` when none)."""
    pairs = [part for name, value in fields.items() for part in (name, value)]
    if postgres:
        return func.coalesce(
            select(func.json_agg(aggregate_order_by(func.json_build_object(*pairs), *order)))
            .where(where)
            .scalar_subquery(),
            text("'[]'::json"),
        )
    # SQLite aggregates rows in the order its subquery gives them; json() keeps each
    # object JSON (a subquery's column would otherwise arrive as a string).
    ordered = select(func.json_object(*pairs).label("item")).where(where).order_by(*order)
    inner = ordered.subquery()
    return select(func.json_group_array(func.json(inner.c.item))).scalar_subquery()


def _nested(postgres: bool, column: Any) -> Any:
    return column if postgres else func.json(column)


@functools.lru_cache(maxsize=4)
def product_page_query(dialect: str) -> Any:
    """A visible product's page (`:product_id`): its columns, its vendor's name, its live
    variants and shown images as JSON arrays in display order; one statement, built once."""
    postgres = dialect == "postgresql"
    variants = _json_list(
        postgres,
        {
            "id": _v.id,
            "sku": _v.sku,
            "attributes": _nested(postgres, _v.attributes),
            "price_amount": _v.price_amount,
            "price_currency": _v.price_currency,
            "regional_prices": _nested(postgres, _v.regional_prices),
            "in_stock": _v.in_stock,
        },
        (_v.product_id == _p.id) & _v.deleted_at.is_(None),
        [_v.position, _v.id],
    )
    images = _json_list(
        postgres,
        {
            "id": _i.id,
            "url": _i.url,
            "thumbnails": _nested(postgres, _i.thumbnail_urls),
            "alt_text": _i.alt_text,
            "position": _i.position,
        },
        (_i.product_id == _p.id) & _i.status.in_(VISIBLE_STATUSES),
        [_i.position, _i.id],
    )
    return (
        select(
            _p.id,
            _p.vendor_id,
            _p.category_id,
            _p.status,
            _p.language,
            _p.title,
            _p.description,
            _p.translations,
            _p.rating_count,
            _p.rating_score,
            _p.created_at,
            _p.updated_at,
            _l.name.label("vendor_name"),
            _l.slug.label("vendor_slug"),
            type_coerce(variants, JSON).label("variants"),
            type_coerce(images, JSON).label("images"),
        )
        .select_from(Product.__table__)
        .outerjoin(VendorListing.__table__, _l.vendor_id == _p.vendor_id)
        .where(_p.id == bindparam("product_id", type_=String), _p.visible.is_(True))
    )


async def product_page(session: AsyncSession, product_id: str) -> Any | None:
    """The row of `product_page_query`, or None if no such visible product."""
    dialect = session.get_bind().dialect.name
    stmt = product_page_query(dialect)
    return (await session.execute(stmt, {"product_id": product_id})).first()
