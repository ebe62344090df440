"""What other contexts use of the catalog: the sellable facts of variants (for carts and
orders, which copy them at purchase time) and a category's ancestry (for commission)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from marketplace.catalog.domain.category import ancestors_leaf_first
from marketplace.catalog.repository import product as repo
from marketplace.platform.money import Money
from marketplace.platform.uow import UnitOfWork

__all__ = ["CACHED_TABLES", "VariantInfo", "variants_info"]

# What the public catalog reads (browse, search, product pages) are made of: a committed
# write to any of these invalidates their cached bodies (see `platform.readcache`).
CACHED_TABLES: Final = frozenset(
    {
        "catalog_category",
        "catalog_vendor_listing",
        "catalog_product",
        "catalog_variant",
        "catalog_product_image",
    }
)


@dataclass(frozen=True, slots=True)
class VariantInfo:
    variant_id: str
    product_id: str
    vendor_id: str
    sku: str
    title: str
    attributes: dict[str, object]
    price: Money
    regional_prices: dict[str, int]
    category_id: str
    category_path: tuple[str, ...]  # leaf first, for commission resolution
    purchasable: bool  # visible (active, vendor approved) and not deleted


async def variants_info(uow: UnitOfWork, variant_ids: Sequence[str]) -> dict[str, VariantInfo]:
    variants = await repo.variants_by_ids(uow.session, variant_ids)
    products = {
        p.id: p for p in await repo.products_by_ids(uow.session, [v.product_id for v in variants])
    }
    result = {}
    for variant in variants:
        product = products.get(variant.product_id)
        if product is None:
            continue
        result[variant.id] = VariantInfo(
            variant_id=variant.id,
            product_id=product.id,
            vendor_id=variant.vendor_id,
            sku=variant.sku,
            title=product.title,
            attributes=dict(variant.attributes),
            price=Money(variant.price_amount, variant.price_currency),
            regional_prices=dict(variant.regional_prices),
            category_id=product.category_id,
            category_path=tuple(ancestors_leaf_first(product.category_path)),
            purchasable=product.visible,
        )
    return result
