"""What other contexts use of payments: the orders checkout starts and confirms a payment
split across its vendor orders, cancels one it will not charge, asks for refunds, and says
when a vendor order was delivered (which starts the vendor's hold).

Protocol for checkout (orders):

1. in the request's unit of work: create the order, reserve stock, `start_payment(...)`
   (persists a pending payment, calls nobody), and COMMIT;
2. `confirm_payment(uow, gateways, payment_id=...)`: reads, ends its read transaction,
   charges through the provider with no transaction open, and records the outcome in the
   unit of work's next transaction, which the caller commits together with its own update
   of the order (the HTTP middleware does that at the end of the request). Events
   `PaymentSucceeded` / `PaymentFailed` tell subscribers either way; a provider that does
   not answer raises 503 `payment_provider_unavailable` and leaves the payment pending
   (retrying is safe: the provider idempotency key was persisted by `start_payment`).

Every other function takes the caller's unit of work and never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from marketplace.payments.domain.ledger import CommissionLine, VendorShare
from marketplace.payments.errors import (
    PaymentAlreadyCaptured,
    PaymentInProgress,
    PaymentNotFound,
    PaymentNotRefundable,
    ProviderUnavailableError,
    RefundExceedsRemaining,
    VendorOrderNotFound,
)
from marketplace.payments.providers import Gateways, gateways_for
from marketplace.payments.service import ledger
from marketplace.payments.service.facts import PaymentFacts, ShareFacts, payment_facts
from marketplace.payments.service.payments import (
    PaymentView,
    cancel_payment,
    confirm_payment,
    payment_of_order,
    start_payment,
)
from marketplace.payments.service.refunds import RefundView, get_refund, request_refund
from marketplace.platform.clock import ensure_utc
from marketplace.platform.uow import UnitOfWork

__all__ = [
    "CommissionLine",
    "Gateways",
    "GatewaysDep",
    "PaymentAlreadyCaptured",
    "PaymentFacts",
    "PaymentInProgress",
    "PaymentNotFound",
    "PaymentNotRefundable",
    "PaymentView",
    "ProviderUnavailableError",
    "RefundExceedsRemaining",
    "RefundView",
    "ShareFacts",
    "VendorOrderNotFound",
    "VendorShare",
    "cancel_payment",
    "confirm_payment",
    "get_refund",
    "payment_facts",
    "payment_of_order",
    "request_refund",
    "start_payment",
    "vendor_order_delivered",
]


async def gateways(request: Request) -> Gateways:
    found = getattr(request.app.state, "payment_gateways", None)
    if not isinstance(found, Gateways):
        raise RuntimeError("the payments context is not configured in this app")
    return found


GatewaysDep = Annotated[Gateways, Depends(gateways)]


async def vendor_order_delivered(
    uow: UnitOfWork, *, vendor_order_id: str, delivered_at: datetime
) -> None:
    """Start the vendor order's hold: its pending earnings become available once the hold
    period (settings, default 7 days) has passed (`payments.release_holds`, every minute).
    A repeated call keeps the first delivery time."""
    await ledger.vendor_order_delivered(
        uow,
        vendor_order_id=vendor_order_id,
        delivered_at=ensure_utc(delivered_at),
        hold_period=gateways_for(uow).hold_period,
    )
