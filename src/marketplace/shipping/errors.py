"""Shipping error codes: each exception carries its HTTP status, code and title."""

from __future__ import annotations

from marketplace.platform.errors import AppError, Conflict, NotFound


class ShipmentNotFound(NotFound):
    code = "shipment_not_found"
    title = "Shipment not found"


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "Order not found"


class CarrierNotFound(NotFound):
    code = "carrier_not_found"
    title = "No enabled carrier sends webhooks by this name"


class InvalidWebhookSignature(AppError):
    status = 400
    code = "invalid_signature"
    title = "Webhook signature verification failed"


class TrackedByCarrier(Conflict):
    code = "shipment_tracked_by_carrier"
    title = "The carrier reports this shipment's status; it cannot be entered by hand"
