"""What other contexts use of the catalog: the sellable facts of variants (for carts and
orders, which copy them at purchase time), a vendor's variant by sku (carts), and a
category's ancestry (for commission)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from marketplace.catalog.domain.category import ancestors_leaf_first
from marketplace.catalog.repository import product as repo
from marketplace.platform.money import Money
from marketplace.platform.uow import UnitOfWork

__all__ = ["CACHED_TABLES", "VariantInfo", "variant_id_by_sku", "variants_info"]

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
    """The live variants among `variant_ids` (deleted or unknown ones are absent), in one
    query whatever their number: a cart of 100 lines reads them at once."""
    result = {}
    for row in await repo.sale_facts(uow.session, variant_ids):
        result[row.id] = VariantInfo(
            variant_id=row.id,
            product_id=row.product_id,
            vendor_id=row.vendor_id,
            sku=row.sku,
            title=row.title,
            attributes=dict(row.attributes),
            price=Money(row.price_amount, row.price_currency),
            regional_prices=dict(row.regional_prices),
            category_id=row.category_id,
            category_path=tuple(ancestors_leaf_first(row.category_path)),
            purchasable=row.visible,
        )
    return result


async def variant_id_by_sku(uow: UnitOfWork, *, vendor_id: str, sku: str) -> str | None:
    """The live variant a vendor sells under `sku` (shoppers may add to a cart by sku)."""
    variant = await repo.sku_owner(uow.session, vendor_id, sku)
    return variant.id if variant is not None else None
