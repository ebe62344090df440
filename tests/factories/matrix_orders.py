"""Orders for the authorization matrix: customer A's orders at vendor 1, made fresh where a
caller's success would change what the next caller finds (cancel, ship, refund, returns)."""

from __future__ import annotations

import itertools
from typing import Any, Protocol

from marketplace.bootstrap import Container
from marketplace.identity.domain import PERMISSIONS, Principal, VendorAccess

_keys = itertools.count(1)


class OrderWorld(Protocol):
    container: Container
    vendor_1: str
    category_id: str
    order_variant: str
    last_item_id: str

    def customer_a(self) -> str: ...
    def owner_of_vendor_1(self) -> str: ...


def _owner(world: OrderWorld) -> VendorAccess:
    return VendorAccess(
        Principal(kind="user", id=world.owner_of_vendor_1()),
        world.vendor_1,
        "owner",
        frozenset(PERMISSIONS),
    )


async def shipping_option(world: OrderWorld) -> str:
    """Vendor 1's shipping option, put back if a settings call in the matrix removed it."""
    from marketplace.vendors import public as vendors
    from marketplace.vendors.schemas.store import VendorSettings
    from marketplace.vendors.service import store

    async with world.container.uow_factory() as uow:
        options = await vendors.shipping_options(uow, world.vendor_1)
    if options:
        return options[0].id
    async with world.container.uow_factory() as uow:
        await store.put_settings(
            uow,
            access=_owner(world),
            body=VendorSettings.model_validate(
                {
                    "shipping_options": [
                        {
                            "name": "Matrix post",
                            "price": {"amount": 300, "currency": "EUR"},
                            "delivery_days_min": 1,
                            "delivery_days_max": 3,
                        }
                    ]
                }
            ),
        )
        await uow.commit()
    async with world.container.uow_factory() as uow:
        return (await vendors.shipping_options(uow, world.vendor_1))[0].id


async def stocked_variant(container: Container, vendor_id: str, owner: str, category: str) -> str:
    from marketplace.catalog.repository import product as repo
    from marketplace.catalog.schemas.product import ProductCreate
    from marketplace.catalog.service import product as products

    access = VendorAccess(
        Principal(kind="user", id=owner), vendor_id, "owner", frozenset(PERMISSIONS)
    )
    async with container.uow_factory() as uow:
        product = await products.create_product(
            uow,
            access=access,
            body=ProductCreate.model_validate(
                {
                    "title": "Matrix order goods",
                    "category_id": category,
                    "status": "active",
                    "variants": [
                        {
                            "sku": "MATRIX-ORDER",
                            "price": {"amount": 2000, "currency": "EUR"},
                            "inventory": {"quantity": 100_000},
                        }
                    ],
                }
            ),
        )
        await uow.commit()
    async with container.uow_factory() as uow:
        return (await repo.live_variants(uow.session, [product.id]))[0].id


def checkout_body(world: OrderWorld, option_id: str) -> dict[str, Any]:
    return {
        "items": [{"variant_id": world.order_variant, "quantity": 1}],
        "shipping_address": {
            "name": "Matrix",
            "line1": "Street 1",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "shipping_options": {world.vendor_1: option_id},
        "payment": {"provider": "sandbox", "payment_method": "pm_card_visa"},
    }


async def paid_order(world: OrderWorld, *, delivered: bool = False) -> tuple[str, str]:
    """A paid order of customer A at vendor 1: (order id, vendor order id)."""
    from marketplace.orders.repository import order as repo
    from marketplace.orders.service import checkout, fulfilment

    option = await shipping_option(world)
    body = checkout_body(world, option)
    async with world.container.uow_factory() as uow:
        order_id = await checkout.place_order(
            uow,
            world.container.payment_gateways,
            customer=Principal(kind="user", id=world.customer_a()),
            request=checkout.Checkout(
                items=[checkout.CheckoutItem(world.order_variant, 1)],
                shipping_address=body["shipping_address"],
                shipping_options=body["shipping_options"],
                provider="sandbox",
                payment_method="pm_card_visa",
            ),
            checkout_key=f"matrix-{next(_keys)}",
        )
        await uow.commit()
    async with world.container.uow_factory() as uow:
        vendor_order = (await repo.vendor_orders_of(uow.session, [order_id]))[0]
        world.last_item_id = (await repo.items_of(uow.session, [vendor_order.id]))[0].id
        if delivered:
            actor = fulfilment.Actor(world.owner_of_vendor_1(), "vendor", "vendor:owner")
            await fulfilment.ship(
                uow,
                vendor_order_id=vendor_order.id,
                vendor_id=world.vendor_1,
                actor=actor,
                carrier="dhl",
                tracking_number="1234567890",
            )
            await fulfilment.deliver(
                uow, vendor_order_id=vendor_order.id, vendor_id=world.vendor_1, actor=actor
            )
        await uow.commit()
        return order_id, vendor_order.id


async def return_request(world: OrderWorld) -> str:
    from marketplace.orders.service import returns

    order_id, _ = await paid_order(world, delivered=True)
    async with world.container.uow_factory() as uow:
        made = await returns.request_return(
            uow,
            order_id=order_id,
            customer_id=world.customer_a(),
            items=[(world.last_item_id, 1)],
            reason="damaged",
            description="",
        )
        await uow.commit()
        return made.id
