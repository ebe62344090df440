"""Typed factories for the catalog: categories and products (with stock)."""

from __future__ import annotations

import itertools
from typing import Any

from factories.vendors import MadeVendor
from marketplace.bootstrap import Container
from marketplace.catalog.models import Category, Product
from marketplace.catalog.schemas.category import CategoryCreate
from marketplace.catalog.schemas.product import ProductCreate
from marketplace.catalog.service import category as category_service
from marketplace.catalog.service import product as product_service
from marketplace.identity.domain import PERMISSIONS, Principal, VendorAccess

_counter = itertools.count(1)


async def create_category(
    container: Container,
    *,
    name: str | None = None,
    parent: Category | None = None,
    translations: dict[str, str] | None = None,
) -> Category:
    n = next(_counter)
    async with container.uow_factory() as uow:
        category = await category_service.create_category(
            uow,
            body=CategoryCreate(
                name=name or f"Category {n}",
                slug=f"category-{n}",
                parent_id=parent.id if parent else None,
                translations=translations or {},
            ),
            actor_id="test",
            actor_role="test",
        )
        await uow.commit()
    return category


def owner_access(vendor: MadeVendor) -> VendorAccess:
    return VendorAccess(
        Principal(kind="user", id=vendor.owner.id), vendor.id, "owner", frozenset(PERMISSIONS)
    )


async def create_product(
    container: Container,
    vendor: MadeVendor,
    category: Category,
    *,
    title: str | None = None,
    price: int = 1999,
    currency: str = "EUR",
    quantity: int = 10,
    status: str = "active",
    **overrides: Any,
) -> Product:
    n = next(_counter)
    body: dict[str, Any] = {
        "title": title or f"Product {n}",
        "description": f"Description of product {n}",
        "category_id": category.id,
        "status": status,
        "variants": [
            {
                "sku": f"SKU-{n}",
                "price": {"amount": price, "currency": currency},
                "inventory": {"quantity": quantity, "low_stock_threshold": 2},
            }
        ],
    }
    body.update(overrides)
    async with container.uow_factory() as uow:
        product = await product_service.create_product(
            uow, access=owner_access(vendor), body=ProductCreate.model_validate(body)
        )
        await uow.commit()
    return product
