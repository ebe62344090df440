"""Typed factories for checkout: a selling vendor (shipping option, product with stock) and
checkout bodies."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from factories.catalog import create_category, create_product
from factories.vendors import MadeVendor, create_vendor
from marketplace.bootstrap import Container
from marketplace.catalog.models import Category
from marketplace.identity.domain import Principal, VendorAccess
from marketplace.identity.models import User
from marketplace.vendors.schemas.store import VendorSettings
from marketplace.vendors.service import store

_counter = itertools.count(1)


@dataclass(frozen=True)
class Shop:
    vendor: MadeVendor
    option_id: str
    variant_id: str
    product_id: str
    sku: str


async def make_shop(
    container: Container,
    *,
    price: int = 1000,
    quantity: int = 10,
    shipping: int = 490,
    return_window_days: int = 30,
    currency: str = "EUR",
    category: Category | None = None,
    owner: User | None = None,
    title: str | None = None,
) -> Shop:
    vendor = await create_vendor(container, owner=owner)
    access = VendorAccess(
        principal=Principal(kind="user", id=vendor.owner.id),
        vendor_id=vendor.id,
        role="owner",
        permissions=frozenset({"store.manage"}),
    )
    async with container.uow_factory() as uow:
        await store.put_settings(
            uow,
            access=access,
            body=VendorSettings.model_validate(
                {
                    "shipping_options": [
                        {
                            "name": "Standard",
                            "price": {"amount": shipping, "currency": currency},
                            "delivery_days_min": 2,
                            "delivery_days_max": 5,
                        }
                    ],
                    "return_window_days": return_window_days,
                }
            ),
        )
        await uow.commit()
    async with container.uow_factory() as uow:
        from marketplace.vendors import public as vendors

        option_id = (await vendors.shipping_options(uow, vendor.id))[0].id
    category = category or await create_category(container, name=f"Goods {next(_counter)}")
    product = await create_product(
        container, vendor, category, price=price, currency=currency, quantity=quantity, title=title
    )
    async with container.uow_factory() as uow:
        from marketplace.catalog.repository import product as repo

        variant = (await repo.live_variants(uow.session, [product.id]))[0]
        variant_id, sku = variant.id, variant.sku
    return Shop(vendor, option_id, variant_id, product.id, sku)


def checkout_body(
    *lines: tuple[Shop, int],
    payment_method: str = "pm_card_visa",
    country: str = "DE",
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "items": [{"variant_id": shop.variant_id, "quantity": q} for shop, q in lines],
        "shipping_address": {
            "name": "Ada Customer",
            "line1": "Hauptstraße 5",
            "city": "Berlin",
            "postal_code": "10115",
            "country": country,
        },
        "shipping_options": {shop.vendor.id: shop.option_id for shop, _ in lines},
        "payment": {"provider": "sandbox", "payment_method": payment_method},
    }
    body.update(overrides)
    return body


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"checkout-{next(_counter)}"}
