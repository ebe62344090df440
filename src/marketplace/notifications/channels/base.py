"""What every channel is given and may raise."""

from __future__ import annotations

from dataclasses import dataclass, field


class DeliveryFailed(Exception):
    """Sending failed; the delivery is retried with backoff (dead after the last attempt)."""


class PermanentFailure(DeliveryFailed):
    """Retrying cannot help (invalid number, refused address): dead at once."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A rendered email. `message_id` is stable per delivery, so a message sent twice after a
    crash between sending and recording it is recognisable as the same message."""

    message_id: str
    to: str
    subject: str
    text: str
    html: str | None
    language: str
    attachments: tuple[Attachment, ...] = ()
    unsubscribe_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    idempotency_key: str
    to: str
    body: str


@dataclass(frozen=True, slots=True)
class OutgoingWebhook:
    delivery_id: str
    url: str
    body: bytes
    secret: str
