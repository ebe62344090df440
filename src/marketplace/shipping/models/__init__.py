"""Shipping tables: tracked shipments, their tracking events, and carrier webhooks received.

Order, vendor order, vendor and customer ids belong to the orders context and are stored
without foreign keys (copied from `orders.vendor_order_shipped.v1`). A shipment's id is the
orders shipment id, so following that event twice creates it once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class TrackedShipment(Base):
    """A parcel followed until it is delivered or returned."""

    __tablename__ = "shipping_shipment"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40))
    vendor_order_id: Mapped[str] = mapped_column(String(40))
    vendor_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    carrier: Mapped[str] = mapped_column(String(40))  # dhl | fedex | ups | usps | other
    tracking_number: Mapped[str] = mapped_column(String(64))
    # The adapter following it (manual | easypost | dhl | fedex) and its own id for it.
    tracker: Mapped[str] = mapped_column(String(20))
    carrier_ref: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    status_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    # Polling: when next (NULL: not polled, or final) and the current back-off interval.
    next_poll_at: Mapped[datetime | None]
    poll_interval_seconds: Mapped[int] = mapped_column(Integer, default=0)
    last_polled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_shipping_shipment_vendor", "vendor_id", "created_at", "id"),
        Index("ix_shipping_shipment_order", "order_id"),
        Index("ix_shipping_shipment_tracking", "tracker", "tracking_number"),
        Index("ix_shipping_shipment_ref", "tracker", "carrier_ref"),
        Index("ix_shipping_shipment_poll", "next_poll_at"),
    )


class TrackingEvent(Base):
    """One carrier scan or vendor update; stored once per shipment and event key."""

    __tablename__ = "shipping_tracking_event"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    shipment_id: Mapped[str] = mapped_column(ForeignKey("shipping_shipment.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime]
    description: Mapped[str | None] = mapped_column(String(300))
    location: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # webhook | poll | register | vendor
    received_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("shipment_id", "key", name="uq_shipping_tracking_event_key"),
    )


class CarrierWebhook(Base):
    """A verified carrier webhook, stored once per (carrier, carrier event id)."""

    __tablename__ = "shipping_carrier_webhook"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    carrier: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("carrier", "event_id", name="uq_shipping_carrier_webhook_event"),
    )


__all__ = ["CarrierWebhook", "TrackedShipment", "TrackingEvent"]
