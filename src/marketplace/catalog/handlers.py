"""How the catalog follows other contexts: vendors approved or suspended are shown or
hidden; variants going out of (or back into) stock update the `in_stock` flags browse uses."""

from __future__ import annotations

from marketplace.catalog.service import product as service
from marketplace.inventory.events import AvailabilityChanged
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors.events import VendorStatusChanged, VendorUpdated


async def follow_vendor_status(uow: UnitOfWork, message: Message) -> None:
    event = VendorStatusChanged.model_validate(message.payload)
    await service.set_vendor_listable(
        uow, vendor_id=event.vendor_id, listable=event.status == "approved"
    )


async def follow_vendor_name(uow: UnitOfWork, message: Message) -> None:
    event = VendorUpdated.model_validate(message.payload)
    if "name" in event.fields:
        await service.refresh_vendor_name(uow, vendor_id=event.vendor_id)


async def follow_stock(uow: UnitOfWork, message: Message) -> None:
    event = AvailabilityChanged.model_validate(message.payload)
    await service.set_variant_stock(uow, variant_id=event.variant_id, in_stock=event.in_stock)


def register(registry: Registry) -> None:
    from marketplace.catalog.service.images import register_images
    from marketplace.catalog.service.imports import register_imports

    registry.subscribe(VendorStatusChanged, name="catalog.follow_vendor_status")(
        follow_vendor_status
    )
    registry.subscribe(VendorUpdated, name="catalog.follow_vendor_name")(follow_vendor_name)
    registry.subscribe(AvailabilityChanged, name="catalog.follow_stock")(follow_stock)
    register_images(registry)
    register_imports(registry)
