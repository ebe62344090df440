"""Product, variant and vendor-listing queries; the vendor filter (tenancy) lives here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.catalog.models import Product, Variant, VendorListing


async def vendor_product(session: AsyncSession, vendor_id: str, product_id: str) -> Product | None:
    return await session.scalar(
        select(Product).where(
            Product.id == product_id, Product.vendor_id == vendor_id, Product.deleted_at.is_(None)
        )
    )


async def visible_product(session: AsyncSession, product_id: str) -> Product | None:
    return await session.scalar(
        select(Product).where(Product.id == product_id, Product.visible.is_(True))
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


async def variants_with_products(
    session: AsyncSession, variant_ids: Sequence[str]
) -> Sequence[tuple[Variant, Product]]:
    """Live variants with their products in one query (carts read many at once)."""
    if not variant_ids:
        return []
    rows = await session.execute(
        select(Variant, Product)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id.in_(set(variant_ids)), Variant.deleted_at.is_(None))
    )
    return [(variant, product) for variant, product in rows]


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
