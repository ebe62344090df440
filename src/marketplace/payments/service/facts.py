"""Payment facts for documents other contexts issue (receipts, vendor statements): how an
order was paid, when, how much was captured and refunded, and each vendor order's split as
the ledger booked it (commission, tax on commission, platform-funded discount, earnings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from marketplace.payments.repository import payment as repo
from marketplace.platform.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class ShareFacts:
    """One vendor order's part of the payment, in minor units of the payment's currency."""

    vendor_order_id: str
    gross: int
    tax: int
    commission: int
    commission_tax: int
    platform_discount: int
    refunded: int

    @property
    def earnings(self) -> int:
        return (
            self.gross - self.tax - self.commission - self.commission_tax + (self.platform_discount)
        )


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    payment_id: str
    order_id: str
    provider: str
    status: str  # pending | succeeded | failed | canceled
    currency: str
    amount: int
    captured_amount: int
    refunded_amount: int
    succeeded_at: datetime | None
    shares: Mapping[str, ShareFacts]  # by vendor order id


async def payment_facts(uow: UnitOfWork, order_id: str) -> PaymentFacts | None:
    """The order's payment and its vendor shares; None when the order has no payment."""
    payment = await repo.payment_by_order(uow.session, order_id)
    if payment is None:
        return None
    shares = await repo.shares(uow.session, payment.id)
    return PaymentFacts(
        payment_id=payment.id,
        order_id=payment.order_id,
        provider=payment.provider,
        status=payment.status,
        currency=payment.currency,
        amount=payment.amount,
        captured_amount=payment.captured_amount,
        refunded_amount=payment.refunded_amount,
        succeeded_at=payment.succeeded_at,
        shares={
            s.vendor_order_id: ShareFacts(
                vendor_order_id=s.vendor_order_id,
                gross=s.gross_amount,
                tax=s.tax_amount,
                commission=s.commission_amount,
                commission_tax=s.commission_tax_amount,
                platform_discount=s.platform_discount_amount,
                refunded=s.refunded_amount,
            )
            for s in shares
        },
    )
