"""Shipping's subscribers and jobs: follow shipments orders records, register them with
their carrier, poll the carriers without webhooks; shipping's events are registered for
their subscribers."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from marketplace.orders.events import VendorOrderShipped
from marketplace.platform.messaging import Message, Registry
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping import events
from marketplace.shipping.carriers import carriers_for
from marketplace.shipping.service import polling, tracking

QUEUE_POLLS: Final = "shipping.queue_due_polls"
QUEUE_POLLS_INTERVAL: Final = timedelta(minutes=1)


async def follow_shipment(uow: UnitOfWork, message: Message) -> None:
    event = VendorOrderShipped.model_validate(message.payload)
    await tracking.open_shipment(
        uow,
        carriers_for(uow),
        shipment_id=event.shipment_id,
        order_id=event.order_id,
        vendor_order_id=event.vendor_order_id,
        vendor_id=event.vendor_id,
        customer_id=event.customer_id,
        carrier=event.carrier,
        tracking_number=event.tracking_number,
    )


async def register_shipment(uow: UnitOfWork, message: Message) -> None:
    # CarrierUnavailable propagates: the job runner retries with back-off.
    await tracking.register_shipment(
        uow, carriers_for(uow), shipment_id=str(message.payload["shipment_id"])
    )


async def queue_due_polls(uow: UnitOfWork, message: Message) -> None:
    if await polling.queue_due_polls(uow) >= polling.SWEEP_BATCH:
        uow.enqueue(QUEUE_POLLS)


async def poll_shipment(uow: UnitOfWork, message: Message) -> None:
    await polling.poll_shipment(
        uow, carriers_for(uow), shipment_id=str(message.payload["shipment_id"])
    )


def register(registry: Registry) -> None:
    registry.event(events.TrackingUpdated)
    registry.event(events.ShipmentDelivered)
    registry.subscribe(VendorOrderShipped, name="shipping.follow_shipment")(follow_shipment)
    registry.job(tracking.REGISTER_JOB)(register_shipment)
    registry.job(polling.POLL_JOB)(poll_shipment)
    registry.job(QUEUE_POLLS)(queue_due_polls)
    registry.every(QUEUE_POLLS_INTERVAL, QUEUE_POLLS)
