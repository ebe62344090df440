"""Shipping's HTTP shapes: tracked shipments with their events, per vendor order for the
customer; the vendor's manual status update; the carrier webhook's acknowledgement."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from marketplace.shipping.domain.tracking import TrackingStatus


class TrackingEventRead(BaseModel):
    status: str
    occurred_at: datetime
    description: str | None
    location: str | None
    source: str = Field(description="webhook | poll | register | vendor")


class ShipmentRead(BaseModel):
    id: str
    order_id: str
    vendor_order_id: str
    carrier: str
    tracking_number: str
    tracked_by: str = Field(description="manual | easypost | dhl | fedex")
    status: str
    status_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    events: list[TrackingEventRead] = Field(description="oldest first")


class VendorOrderTracking(BaseModel):
    vendor_order_id: str
    vendor_id: str
    shipments: list[ShipmentRead]


class OrderTrackingRead(BaseModel):
    order_id: str
    vendor_orders: list[VendorOrderTracking]


class TrackingEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TrackingStatus
    description: str | None = Field(default=None, max_length=300)
    location: str | None = Field(default=None, max_length=200)
    occurred_at: AwareDatetime | None = Field(default=None, description="default: now")


class CarrierWebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="the event had been received before: nothing changed")
    shipments: int = Field(description="shipments the event was about")
