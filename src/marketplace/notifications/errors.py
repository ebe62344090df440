"""Notification error codes: each exception carries its HTTP status, code and title."""

from __future__ import annotations

from marketplace.platform.errors import Conflict, NotFound, ValidationFailed


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"
    title = "Delivery not found"


class DeliveryNotDead(Conflict):
    code = "delivery_not_dead"
    title = "Only dead deliveries can be retried"


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    title = "Notification not found"


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    title = "Webhook endpoint not found"


class InvalidUnsubscribeToken(ValidationFailed):
    code = "invalid_unsubscribe_token"
    title = "Invalid unsubscribe link"
