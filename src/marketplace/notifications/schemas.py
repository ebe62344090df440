"""Request and response bodies of the notification routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    category: str
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    data: list[NotificationRead]
    next_cursor: str | None
    unread_count: int


class UnreadCount(BaseModel):
    unread_count: int


class ReadAllResult(BaseModel):
    updated: int = Field(description="entries marked read now")
    unread_count: int


class CategoryPreferences(BaseModel):
    category: str
    description: str
    transactional: bool = Field(
        description="order confirmations, receipts, security...: email and in-app cannot "
        "be turned off"
    )
    channels: dict[str, bool] = Field(examples=[{"email": True, "in_app": True, "sms": False}])


class PreferencesRead(BaseModel):
    categories: list[CategoryPreferences]
    sms_number: str | None = Field(description="E.164; SMS go here when enabled")


class PreferenceChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(max_length=40)
    channel: Literal["email", "sms", "in_app"]
    enabled: bool


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preferences: list[PreferenceChoice] = Field(default_factory=list, max_length=100)
    sms_number: str | None = Field(
        default=None,
        max_length=32,
        description="international format (+4915112345678); null removes it; omit to keep",
    )


class UnsubscribeResult(BaseModel):
    unsubscribed: bool
    category: str
    channel: Literal["email"] = "email"


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    event_id: str
    event_name: str
    kind: str
    channel: str
    recipient: str
    address: str
    language: str
    subject: str
    status: Literal["pending", "sent", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    provider_message_id: str | None
    response_status: int | None
    created_at: datetime
    sent_at: datetime | None


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, examples=["https://erp.example.com/hooks/marketplace"])
    events: list[str] = Field(min_length=1, max_length=20, examples=[["order.placed"]])


class WebhookEndpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    vendor_id: str
    url: str
    events: list[str]
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpointRead):
    secret: str = Field(
        description="signs every delivery (Marketplace-Signature: t=...,v1=HMAC-SHA256 of "
        '"t.body"); shown only now'
    )


class WebhookEndpointList(BaseModel):
    data: list[WebhookEndpointRead]
