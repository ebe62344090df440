"""Refund use cases: request (reserve the amount, enqueue the provider call), execute (the
job: call the provider with the key persisted at request), and record the outcome, which the
job and the provider's webhook share so they converge.

A refund is reserved against its vendor order by a conditional UPDATE
(`refund_reserved + amount <= gross`), so concurrent requests can never refund more than was
captured; a failed refund gives its reservation back. Nothing here commits, except
`execute_refund`'s end of the read transaction before the provider call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from marketplace.payments.domain.payment import KEY_MAX_LENGTH, REASON_MAX_LENGTH, provider_key
from marketplace.payments.errors import (
    PaymentNotRefundable,
    RefundExceedsRemaining,
    RefundNotFound,
    VendorOrderNotFound,
)
from marketplace.payments.events import RefundFailed, RefundSucceeded
from marketplace.payments.models import Refund
from marketplace.payments.providers import Gateways, ProviderUnavailable, RefundRequest
from marketplace.payments.repository import payment as repo
from marketplace.payments.service import ledger
from marketplace.platform.admission import waiting_elsewhere
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork

EXECUTE_REFUND_JOB: Final = "payments.execute_refund"


@dataclass(frozen=True, slots=True)
class RefundView:
    id: str
    payment_id: str
    order_id: str
    vendor_order_id: str
    status: str  # "pending" | "succeeded" | "failed"
    amount: int
    currency: str
    reason: str
    items: tuple[tuple[str, int], ...]
    failure_code: str | None
    failure_message: str | None
    provider_refund_id: str | None


def refund_view(refund: Refund) -> RefundView:
    return RefundView(
        id=refund.id,
        payment_id=refund.payment_id,
        order_id=refund.order_id,
        vendor_order_id=refund.vendor_order_id,
        status=refund.status,
        amount=refund.amount,
        currency=refund.currency,
        reason=refund.reason,
        items=tuple((str(i), int(a)) for i, a in refund.items),
        failure_code=refund.failure_code,
        failure_message=refund.failure_message,
        provider_refund_id=refund.provider_refund_id,
    )


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
    existing = await repo.refund_by_key(uow.session, order_id, idempotency_key)
    if existing is not None:
        if (existing.vendor_order_id, existing.amount) != (vendor_order_id, amount):
            # Same key, another refund: answering with the first would hide the mistake.
            raise ValidationFailed(
                "this Idempotency-Key was used for another refund",
                code="idempotency_key_reused",
            )
        return refund_view(existing)
    if amount <= 0:
        raise ValidationFailed.on_field(["body", "amount"], "the amount must be positive")
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationFailed.on_field(["body", "reason"], "at most 500 characters")
    if not idempotency_key or len(idempotency_key) > KEY_MAX_LENGTH:
        raise ValidationFailed.on_field(["header", "Idempotency-Key"], "required, at most 255")
    if any(a <= 0 for _, a in items) or sum(a for _, a in items) > amount:
        raise ValidationFailed.on_field(
            ["body", "items"], "item amounts must be positive and within the refund"
        )
    share = await repo.share(uow.session, vendor_order_id)
    payment = await repo.payment(uow.session, share.payment_id) if share else None
    if share is None or payment is None or payment.order_id != order_id:
        raise VendorOrderNotFound(f"no payment covers vendor order {vendor_order_id}")
    if payment.status != "succeeded":
        raise PaymentNotRefundable.on_field(
            ["body", "vendor_order_id"],
            f"the payment of this order is {payment.status}",
            "payment_not_refundable",
        )
    if not await repo.reserve_refund(uow.session, vendor_order_id, amount):
        current = await repo.share(uow.session, vendor_order_id)
        assert current is not None
        remaining = current.gross_amount - current.refund_reserved_amount
        raise RefundExceedsRemaining.on_field(
            ["body", "amount"],
            f"at most {remaining} can still be refunded from this vendor order",
            "refund_exceeds_remaining",
        )
    now = utcnow()
    refund = Refund(
        id=new_id("ref"),
        payment_id=payment.id,
        order_id=order_id,
        vendor_order_id=vendor_order_id,
        amount=amount,
        currency=payment.currency,
        status="pending",
        reason=reason,
        items=[[item_id, item_amount] for item_id, item_amount in items],
        idempotency_key=idempotency_key,
        provider_idempotency_key=provider_key("refund", order_id, idempotency_key),
        provider_refund_id=None,
        failure_code=None,
        failure_message=None,
        actor_id=actor_id,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(refund)
    await uow.session.flush()
    uow.enqueue(EXECUTE_REFUND_JOB, {"refund_id": refund.id})
    return refund_view(refund)


async def get_refund(uow: UnitOfWork, refund_id: str) -> RefundView:
    refund = await repo.refund(uow.session, refund_id)
    if refund is None:
        raise RefundNotFound(f"no refund {refund_id}")
    return refund_view(refund)


async def execute_refund(uow: UnitOfWork, gateways: Gateways, *, refund_id: str) -> None:
    """The job: ask the provider, then record the outcome (committed by the job runner)."""
    refund = await repo.refund(uow.session, refund_id)
    if refund is None or refund.status != "pending":
        return
    payment = await repo.payment(uow.session, refund.payment_id)
    assert payment is not None
    assert payment.provider_payment_id is not None
    request = RefundRequest(
        idempotency_key=refund.provider_idempotency_key,
        provider_payment_id=payment.provider_payment_id,
        amount=refund.amount,
        currency=refund.currency,
        metadata={"refund_id": refund.id, "payment_id": payment.id},
    )
    provider = gateways[payment.provider]
    # No transaction open during the provider call (see confirm_payment).
    await uow.commit()
    try:
        async with waiting_elsewhere():
            result = await provider.refund(request)
    except ProviderUnavailable:
        raise  # the job retries with backoff, sending the same key
    if result.status == "succeeded":
        await record_refund_success(uow, refund_id, provider_refund_id=result.provider_refund_id)
    else:
        await record_refund_failure(
            uow,
            refund_id,
            provider_refund_id=result.provider_refund_id,
            code=result.failure_code,
            message=result.failure_message,
        )


async def record_refund_success(
    uow: UnitOfWork, refund_id: str, *, provider_refund_id: str | None
) -> bool:
    if not await repo.settle_refund(
        uow.session,
        refund_id,
        status="succeeded",
        provider_refund_id=provider_refund_id,
        code=None,
        message=None,
        now=utcnow(),
    ):
        return False
    refund = await repo.refund(uow.session, refund_id)
    assert refund is not None
    payment = await repo.payment(uow.session, refund.payment_id)
    assert payment is not None
    await ledger.post_refund(
        uow,
        payment,
        refund_id=refund.id,
        vendor_order_id=refund.vendor_order_id,
        amount=refund.amount,
    )
    uow.publish(
        RefundSucceeded(
            refund_id=refund.id,
            order_id=refund.order_id,
            vendor_order_id=refund.vendor_order_id,
            amount=refund.amount,
            currency=refund.currency,
        )
    )
    return True


async def record_refund_failure(
    uow: UnitOfWork,
    refund_id: str,
    *,
    provider_refund_id: str | None,
    code: str | None,
    message: str | None,
) -> bool:
    if not await repo.settle_refund(
        uow.session,
        refund_id,
        status="failed",
        provider_refund_id=provider_refund_id,
        code=code,
        message=message,
        now=utcnow(),
    ):
        return False
    refund = await repo.refund(uow.session, refund_id)
    assert refund is not None
    await repo.unreserve_refund(uow.session, refund.vendor_order_id, refund.amount)
    uow.publish(
        RefundFailed(
            refund_id=refund.id,
            order_id=refund.order_id,
            vendor_order_id=refund.vendor_order_id,
            amount=refund.amount,
            currency=refund.currency,
            failure_code=code,
            failure_message=message,
        )
    )
    return True


__all__ = [
    "EXECUTE_REFUND_JOB",
    "RefundView",
    "execute_refund",
    "get_refund",
    "record_refund_failure",
    "record_refund_success",
    "refund_view",
    "request_refund",
]
