"""What vendors do with shipments: enter status updates of parcels no carrier API follows
(`manual`), audited like every change a vendor's team makes."""

from __future__ import annotations

from datetime import datetime, timedelta

from marketplace.compliance.public import record_audit
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping import repository as repo
from marketplace.shipping.domain.tracking import CarrierEvent, TrackingStatus
from marketplace.shipping.errors import ShipmentNotFound, TrackedByCarrier
from marketplace.shipping.models import TrackedShipment
from marketplace.shipping.service.tracking import record_events

# Clocks differ a little; a report from further ahead than this is a mistake.
FUTURE_SLACK = timedelta(minutes=5)


async def add_vendor_event(
    uow: UnitOfWork,
    *,
    vendor_id: str,
    shipment_id: str,
    status: TrackingStatus,
    description: str | None,
    location: str | None,
    occurred_at: datetime | None,
    actor_id: str,
    actor_role: str,
) -> TrackedShipment:
    shipment = await repo.shipment(uow.session, shipment_id, vendor_id=vendor_id, lock=True)
    if shipment is None:
        raise ShipmentNotFound()
    if shipment.tracker != "manual":
        raise TrackedByCarrier(f"{shipment.tracker} reports this shipment's status")
    now = utcnow()
    at = occurred_at or now
    if at > now + FUTURE_SLACK:
        raise ValidationFailed.on_field(["body", "occurred_at"], "in the future", "future")
    before = shipment.status
    event = CarrierEvent(status=status, occurred_at=at, description=description, location=location)
    await record_events(uow, shipment, [event], source="vendor")
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="shipping.tracking_event_added",
        resource_type="shipment",
        resource_id=shipment.id,
        before={"status": before},
        after={
            "status": shipment.status,
            "event_status": status,
            "occurred_at": at.isoformat(),
        },
    )
    return shipment
