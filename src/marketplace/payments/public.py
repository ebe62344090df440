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

from collections.abc import Sequence
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
from marketplace.payments.service import ledger, payments, refunds
from marketplace.payments.service.payments import PaymentView
from marketplace.payments.service.refunds import RefundView
from marketplace.platform.clock import ensure_utc
from marketplace.platform.uow import UnitOfWork

__all__ = [
    "CommissionLine",
    "Gateways",
    "GatewaysDep",
    "PaymentAlreadyCaptured",
    "PaymentInProgress",
    "PaymentNotFound",
    "PaymentNotRefundable",
    "PaymentView",
    "ProviderUnavailableError",
    "RefundExceedsRemaining",
    "RefundView",
    "VendorOrderNotFound",
    "VendorShare",
    "cancel_payment",
    "confirm_payment",
    "get_refund",
    "payment_of_order",
    "request_refund",
    "start_payment",
    "vendor_order_delivered",
]


def gateways(request: Request) -> Gateways:
    found = getattr(request.app.state, "payment_gateways", None)
    if not isinstance(found, Gateways):
        raise RuntimeError("the payments context is not configured in this app")
    return found


GatewaysDep = Annotated[Gateways, Depends(gateways)]


async def start_payment(
    uow: UnitOfWork,
    *,
    order_id: str,
    customer_id: str,
    currency: str,
    amount: int,
    provider: str,
    payment_method: str,
    shares: Sequence[VendorShare],
    idempotency_key: str,
) -> PaymentView:
    """Persist a pending payment with its shares (commission frozen per line) and the
    provider idempotency key derived from `idempotency_key`. No provider call.

    Idempotent per `order_id`: a second call returns the first payment. 422 when
    `sum(gross) != amount`, the provider is not enabled (`body.payment.provider`) or the
    payment method is not a token of that provider (`body.payment.payment_method`)."""
    return await payments.start_payment(
        uow,
        order_id=order_id,
        customer_id=customer_id,
        currency=currency,
        amount=amount,
        provider=provider,
        payment_method=payment_method,
        shares=shares,
        idempotency_key=idempotency_key,
    )


async def confirm_payment(uow: UnitOfWork, gateways: Gateways, *, payment_id: str) -> PaymentView:
    """Charge the customer (see the module docstring: commits the caller's read first)."""
    return await payments.confirm_payment(uow, gateways, payment_id=payment_id)


async def cancel_payment(uow: UnitOfWork, *, payment_id: str) -> None:
    """A pending payment that will not be charged (abandoned checkout). A no-op when it
    failed or was canceled already; 409 `payment_already_captured` when it succeeded."""
    await payments.cancel_payment(uow, payment_id=payment_id)


async def payment_of_order(uow: UnitOfWork, order_id: str) -> PaymentView | None:
    return await payments.payment_of_order(uow, order_id)


async def request_refund(
    uow: UnitOfWork,
    *,
    order_id: str,
    vendor_order_id: str,
    amount: int,
    reason: str,
    items: Sequence[tuple[str, int]] = (),
    idempotency_key: str,
    actor_id: str,
) -> RefundView:
    """Record a pending refund from the vendor order's share and enqueue its execution
    (`payments.execute_refund`). Idempotent per (order, `idempotency_key`). 422
    `refund_exceeds_remaining` beyond the share's captured amount minus refunds succeeded or
    pending; 422 `payment_not_refundable` when the payment did not succeed."""
    return await refunds.request_refund(
        uow,
        order_id=order_id,
        vendor_order_id=vendor_order_id,
        amount=amount,
        reason=reason,
        items=items,
        idempotency_key=idempotency_key,
        actor_id=actor_id,
    )


async def get_refund(uow: UnitOfWork, refund_id: str) -> RefundView:
    return await refunds.get_refund(uow, refund_id)


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
