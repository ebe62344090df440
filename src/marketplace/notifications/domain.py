"""Pure notification rules: what kinds of message exist, which are transactional, who may
switch which off, languages, retry backoff, and the signatures of unsubscribe links and
vendor webhooks. No I/O here."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal

Channel = Literal["email", "sms", "in_app", "webhook"]
PERSONAL_CHANNELS: Final[tuple[Channel, ...]] = ("email", "sms", "in_app")
LANGUAGES: Final = ("en", "de", "fr")
DEFAULT_LANGUAGE: Final = "en"

DeliveryStatus = Literal["pending", "sent", "dead"]


@dataclass(frozen=True, slots=True)
class Category:
    """What a user can switch on or off per channel. Transactional categories (order
    confirmations, receipts, security) are always sent by email and in-app: a customer who
    paid must get the proof, whatever their preferences."""

    name: str
    transactional: bool
    description: str


CATEGORIES: Final[dict[str, Category]] = {
    c.name: c
    for c in (
        Category("orders", True, "order confirmations, receipts, cancellations and refunds"),
        Category("account_security", True, "password and security notices"),
        Category("vendor_orders", True, "new orders and returns for your store"),
        Category("vendor_account", True, "store status, payouts, chargebacks and statements"),
        Category("operations", True, "platform operations alerts (administrators)"),
        Category("order_updates", False, "shipping and delivery of your orders"),
        Category("stock_alerts", False, "low stock of your store's products"),
    )
}


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of message: its template, category, and whether it may go out by SMS."""

    name: str
    category: str
    sms: bool = False

    @property
    def transactional(self) -> bool:
        return CATEGORIES[self.category].transactional


KINDS: Final[dict[str, Kind]] = {
    k.name: k
    for k in (
        Kind("order_confirmation", "orders", sms=True),
        Kind("order_canceled", "orders"),
        Kind("order_refunded", "orders"),
        Kind("return_decided", "orders"),
        Kind("receipt", "orders"),
        Kind("order_shipped", "order_updates", sms=True),
        Kind("order_delivered", "order_updates"),
        Kind("tracking_update", "order_updates", sms=True),
        Kind("vendor_new_order", "vendor_orders", sms=True),
        Kind("return_requested", "vendor_orders"),
        Kind("vendor_statement", "vendor_account"),
        Kind("vendor_status", "vendor_account"),
        Kind("payout_sent", "vendor_account"),
        Kind("payout_failed", "vendor_account"),
        Kind("chargeback_opened", "vendor_account"),
        Kind("stock_low", "stock_alerts"),
        Kind("reconciliation_mismatch", "operations"),
    )
}


def channel_enabled(kind: Kind, channel: Channel, choices: dict[tuple[str, str], bool]) -> bool:
    """Whether a user receives `kind` on `channel`, given their stored choices
    `{(category, channel): enabled}`. Email and in-app default on, SMS off (it costs money
    and needs a number); transactional email and in-app cannot be switched off."""
    if channel in ("email", "in_app") and kind.transactional:
        return True
    if channel == "sms" and not kind.sms:
        return False
    default = channel != "sms"
    return choices.get((kind.category, channel), default)


def language_of(locale: str | None) -> str:
    """The template language for a user's locale ("de-AT" → "de"), English when unknown."""
    if not locale:
        return DEFAULT_LANGUAGE
    base = locale.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def retry_delay(attempts: int, *, base_seconds: int = 30, cap_seconds: int = 3600) -> timedelta:
    """Backoff after the `attempts`-th failure: 30 s, 60 s, 120 s ... capped at an hour."""
    exponent = min(max(attempts - 1, 0), 20)
    return timedelta(seconds=min(cap_seconds, base_seconds * 2**exponent))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsubscribe_token(secret: bytes, *, user_id: str, category: str) -> str:
    """`<user>.<category>.<mac>`: one click turns this category's email off for this user;
    no expiry, because a link in an old email must keep working (RFC 8058)."""
    payload = f"{user_id}.{category}"
    mac = hmac.new(secret, f"unsubscribe:{payload}".encode(), hashlib.sha256).digest()
    return f"{_b64(payload.encode())}.{_b64(mac[:20])}"


def read_unsubscribe_token(secret: bytes, token: str) -> tuple[str, str] | None:
    """(user id, category) if the token is ours and intact, else None."""
    try:
        encoded, mac_text = token.split(".", 1)
        payload = _unb64(encoded).decode()
        user_id, category = payload.rsplit(".", 1)
        given = _unb64(mac_text)
    except (ValueError, UnicodeDecodeError):
        return None
    expected = hmac.new(secret, f"unsubscribe:{payload}".encode(), hashlib.sha256).digest()[:20]
    if not hmac.compare_digest(given, expected) or category not in CATEGORIES:
        return None
    return user_id, category


def webhook_signature(secret: str, *, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>.<body>")>`, the scheme Stripe uses: the
    timestamp is signed with the body, so a captured request cannot be replayed later."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
