"""Following a parcel: open it when orders says it shipped, register it with its carrier,
record what the carrier (or the vendor) reports, and derive its status from all of it.

`record_events` is the one place events are stored and the status decided, whoever
reports (webhook, poll, registration, vendor): events are inserted once per (shipment, key),
the status is derived from every stored event (`domain.tracking`), `TrackingUpdated` is
published when it changed and `ShipmentDelivered` once, by a conditional update on
`delivered_at`. The shipment row is locked first, so concurrent reports of one parcel
serialize.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping import repository as repo
from marketplace.shipping.carriers import Carriers
from marketplace.shipping.domain.adapter import CarrierUnavailable, TrackRequest
from marketplace.shipping.domain.numbers import BadTrackingNumber, UnknownCarrier, normalise
from marketplace.shipping.domain.tracking import (
    INITIAL_STATUS,
    CarrierEvent,
    TrackingStatus,
    deciding_event,
    is_final,
)
from marketplace.shipping.events import ShipmentDelivered, TrackingUpdated
from marketplace.shipping.models import TrackedShipment, TrackingEvent

REGISTER_JOB: Final = "shipping.register_shipment"


@dataclass(frozen=True, slots=True)
class Recorded:
    new_events: int
    status_changed: bool


def as_carrier_event(row: TrackingEvent) -> CarrierEvent:
    return CarrierEvent(
        status=row.status,  # type: ignore[arg-type]
        occurred_at=row.occurred_at,
        description=row.description,
        location=row.location,
    )


def request_of(shipment: TrackedShipment) -> TrackRequest:
    return TrackRequest(
        shipment_id=shipment.id,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        carrier_ref=shipment.carrier_ref,
    )


async def snapshot(uow: UnitOfWork, shipment_id: str) -> TrackedShipment | None:
    """Read a shipment in a short session of its own, so that no transaction of the unit of
    work stays open while a carrier is called."""
    async with uow.db.session() as session:
        return await repo.shipment(session, shipment_id)


async def open_shipment(
    uow: UnitOfWork,
    carriers: Carriers,
    *,
    shipment_id: str,
    order_id: str,
    vendor_order_id: str,
    vendor_id: str,
    customer_id: str,
    carrier: str,
    tracking_number: str,
) -> bool:
    """Start following a shipment orders recorded; at most once per shipment id. Returns
    whether it was new. Carriers that must be told about the parcel are, by a job."""
    try:
        code, number = normalise(carrier, tracking_number)
    except (UnknownCarrier, BadTrackingNumber):
        # Recorded before numbers were checked at ship time: the vendor follows it by hand.
        code, number = "other", tracking_number.strip()
    adapter = carriers.tracker_for(code)
    now = utcnow()
    created = await repo.insert_shipment(
        uow.session,
        {
            "id": shipment_id,
            "order_id": order_id,
            "vendor_order_id": vendor_order_id,
            "vendor_id": vendor_id,
            "customer_id": customer_id,
            "carrier": code,
            "tracking_number": number,
            "tracker": adapter.name,
            "carrier_ref": None,
            "status": INITIAL_STATUS,
            "status_at": None,
            "delivered_at": None,
            "next_poll_at": now if adapter.polls else None,
            "poll_interval_seconds": int(carriers.poll_interval.total_seconds()),
            "last_polled_at": None,
            "created_at": now,
            "updated_at": now,
        },
    )
    if created and adapter.registers:
        uow.enqueue(REGISTER_JOB, {"shipment_id": shipment_id})
    return created


async def register_shipment(uow: UnitOfWork, carriers: Carriers, *, shipment_id: str) -> bool:
    """Tell the shipment's adapter about it (an EasyPost tracker) and keep its id; a no-op
    once registered. Raises CarrierUnavailable (the job retries with back-off)."""
    seen = await snapshot(uow, shipment_id)
    if seen is None or seen.carrier_ref is not None:
        return False
    adapter = carriers.get(seen.tracker)
    if adapter is None or not adapter.registers:
        return False
    registration = await adapter.register(request_of(seen))
    shipment = await repo.shipment(uow.session, shipment_id, lock=True)
    if shipment is None or shipment.carrier_ref is not None:
        return False
    shipment.carrier_ref = registration.carrier_ref
    shipment.updated_at = utcnow()
    await record_events(uow, shipment, registration.events, source="register")
    return True


def _row(shipment_id: str, event: CarrierEvent, source: str, now: datetime) -> dict[str, object]:
    return {
        "id": new_id("tev"),
        "shipment_id": shipment_id,
        "key": event.key,
        "status": event.status,
        "occurred_at": event.occurred_at,
        "description": event.description[:300] if event.description else None,
        "location": event.location[:200] if event.location else None,
        "source": source,
        "received_at": now,
    }


async def record_events(
    uow: UnitOfWork, shipment: TrackedShipment, events: Sequence[CarrierEvent], *, source: str
) -> Recorded:
    """Store new events of a locked shipment and re-derive its status (see the module)."""
    now = utcnow()
    unique = {e.key: e for e in events}
    added = await repo.insert_events(
        uow.session, [_row(shipment.id, e, source, now) for e in unique.values()]
    )
    if not added:
        return Recorded(0, False)
    stored = (await repo.events_of(uow.session, [shipment.id]))[shipment.id]
    decided = deciding_event(as_carrier_event(r) for r in stored)
    assert decided is not None  # at least the events just added
    status: TrackingStatus = decided.status
    changed = status != shipment.status
    shipment.updated_at = now
    if is_final(status):
        shipment.next_poll_at = None
    if changed:
        shipment.status = status
        shipment.status_at = decided.occurred_at
        uow.publish(
            TrackingUpdated(
                shipment_id=shipment.id,
                order_id=shipment.order_id,
                vendor_order_id=shipment.vendor_order_id,
                vendor_id=shipment.vendor_id,
                customer_id=shipment.customer_id,
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                status=status,
                occurred_at=decided.occurred_at,
                description=decided.description,
                location=decided.location,
            )
        )
    if status == "delivered" and await repo.mark_delivered(
        uow.session, shipment.id, decided.occurred_at
    ):
        shipment.delivered_at = decided.occurred_at
        uow.publish(
            ShipmentDelivered(
                shipment_id=shipment.id,
                order_id=shipment.order_id,
                vendor_order_id=shipment.vendor_order_id,
                vendor_id=shipment.vendor_id,
                customer_id=shipment.customer_id,
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                delivered_at=decided.occurred_at,
            )
        )
    await uow.session.flush()
    return Recorded(added, changed)


__all__ = [
    "REGISTER_JOB",
    "CarrierUnavailable",
    "Recorded",
    "open_shipment",
    "record_events",
    "register_shipment",
]
