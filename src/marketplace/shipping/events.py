"""Events the shipping context publishes: a shipment's normalised tracking status changed.
Orders follow `ShipmentDelivered` (the vendor order becomes delivered); notifications tell
the customer."""

from __future__ import annotations

from datetime import datetime

from marketplace.platform.messaging import Event


class TrackingUpdated(Event):
    """A shipment's normalised status changed (`label_created`, `in_transit`,
    `out_for_delivery`, `delivered`, `exception`, `returned`)."""

    name = "shipping.tracking_updated.v1"
    shipment_id: str
    order_id: str
    vendor_order_id: str
    vendor_id: str
    customer_id: str
    carrier: str
    tracking_number: str
    status: str
    occurred_at: datetime
    description: str | None = None
    location: str | None = None


class ShipmentDelivered(Event):
    """The carrier (or the vendor, by hand) says the parcel was delivered: published once."""

    name = "shipping.shipment_delivered.v1"
    shipment_id: str
    order_id: str
    vendor_order_id: str
    vendor_id: str
    customer_id: str
    carrier: str
    tracking_number: str
    delivered_at: datetime
