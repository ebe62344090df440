"""A payment's own rules: statuses, the provider idempotency keys, and input shapes.

Pure: no I/O, no framework.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Final, Literal

from marketplace.payments.domain.ledger import VendorShare

PaymentStatus = Literal["pending", "succeeded", "failed", "canceled"]
RefundStatus = Literal["pending", "succeeded", "failed"]
HoldStatus = Literal["none", "holding", "released"]

# Every provider name the API accepts; which of them are enabled is configuration.
KNOWN_PROVIDERS: Final = ("sandbox", "stripe", "paypal", "razorpay")

# Gateway tokens only: card numbers never reach us, so a payment method is an opaque token.
PAYMENT_METHOD_RE: Final = re.compile(r"[A-Za-z0-9_\-]{3,100}")
REASON_MAX_LENGTH: Final = 500
KEY_MAX_LENGTH: Final = 255


def provider_key(kind: str, scope: str, idempotency_key: str) -> str:
    """The idempotency key we send to the provider, derived from the caller's key.

    Persisted before the call, so a retry after a timeout (or a crash) sends the same key and
    the provider returns the first result instead of charging or refunding twice. Hashed so
    a client's key never leaves our system and the length fits every provider."""
    digest = hashlib.sha256(f"{kind}:{scope}:{idempotency_key}".encode()).hexdigest()
    return f"mk_{kind}_{digest[:40]}"


def share_problems(
    amount: int, shares: Sequence[VendorShare]
) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with a payment's split, as (location, message) pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if amount <= 0:
        problems.append((("amount",), "the amount must be positive"))
    if not shares:
        problems.append((("shares",), "a payment needs at least one vendor share"))
    seen: set[str] = set()
    for i, share in enumerate(shares):
        if share.vendor_order_id in seen:
            problems.append((("shares", i, "vendor_order_id"), "vendor order listed twice"))
        seen.add(share.vendor_order_id)
        amounts = (
            share.gross_amount,
            share.tax_amount,
            share.commission_amount,
            share.commission_tax_amount,
            share.platform_discount_amount,
        )
        if any(a < 0 for a in amounts) or any(line.amount < 0 for line in share.lines):
            problems.append((("shares", i), "amounts must not be negative"))
        if share.tax_amount > share.gross_amount:
            problems.append((("shares", i, "tax_amount"), "tax exceeds the gross amount"))
        if sum(line.amount for line in share.lines) != share.commission_amount:
            problems.append((("shares", i, "commission_amount"), "must equal the sum of its lines"))
    if shares and sum(s.gross_amount for s in shares) != amount:
        problems.append((("amount",), "must equal the sum of the vendor shares' gross amounts"))
    return problems
