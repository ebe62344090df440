"""Typed factories for payments: vendor shares, a started (and confirmed) payment in committed
units of work as the orders checkout would make them, and readers of the ledger and outbox."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.bootstrap import Container
from marketplace.payments import public as payments
from marketplace.payments.models import LedgerPosting, LedgerTransaction
from marketplace.platform.models import OutboxMessage

_counter = itertools.count(1)

# Webhook secrets of the gateway adapters in the `gateways_container` fixture.
STRIPE_WHSEC = "whsec_test_api_0123456789"
RAZORPAY_WHSEC = "whsec_rzp_api_0123456789"


def share(
    vendor_id: str,
    *,
    gross: int,
    tax: int = 0,
    commission: tuple[int, ...] = (),
    commission_tax: int = 0,
    platform_discount: int = 0,
    vendor_order_id: str | None = None,
    rate_bps: int | None = 1000,
) -> payments.VendorShare:
    """A vendor order's share; `commission` gives one amount per order line."""
    vo = vendor_order_id or f"vo_{next(_counter)}"
    lines = tuple(
        payments.CommissionLine(
            order_item_id=f"{vo}_item{i}", rule_id="cr_test", rate_bps=rate_bps, amount=amount
        )
        for i, amount in enumerate(commission, start=1)
    )
    return payments.VendorShare(
        vendor_order_id=vo,
        vendor_id=vendor_id,
        gross_amount=gross,
        tax_amount=tax,
        commission_amount=sum(commission),
        commission_tax_amount=commission_tax,
        platform_discount_amount=platform_discount,
        lines=lines,
    )


async def start(
    container: Container,
    shares: list[payments.VendorShare],
    *,
    currency: str = "USD",
    payment_method: str = "pm_card_visa",
    order_id: str | None = None,
    key: str = "checkout-key",
) -> payments.PaymentView:
    async with container.uow_factory() as uow:
        view = await payments.start_payment(
            uow,
            order_id=order_id or f"ord_{next(_counter)}",
            customer_id="usr_customer",
            currency=currency,
            amount=sum(s.gross_amount for s in shares),
            provider="sandbox",
            payment_method=payment_method,
            shares=shares,
            idempotency_key=key,
        )
        await uow.commit()
    return view


async def confirm(container: Container, payment_id: str) -> payments.PaymentView:
    async with container.uow_factory() as uow:
        view = await payments.confirm_payment(
            uow, container.payment_gateways, payment_id=payment_id
        )
        await uow.commit()
    return view


async def paid(
    container: Container, shares: list[payments.VendorShare], **kwargs: Any
) -> payments.PaymentView:
    started = await start(container, shares, **kwargs)
    return await confirm(container, started.id)


async def refund(
    container: Container,
    *,
    order_id: str,
    vendor_order_id: str,
    amount: int,
    key: str | None = None,
) -> payments.RefundView:
    async with container.uow_factory() as uow:
        view = await payments.request_refund(
            uow,
            order_id=order_id,
            vendor_order_id=vendor_order_id,
            amount=amount,
            reason="damaged",
            idempotency_key=key or f"refund-{next(_counter)}",
            actor_id="usr_vendor",
        )
        await uow.commit()
    return view


async def ledger(session: AsyncSession) -> list[tuple[str, list[tuple[str, int]]]]:
    """Every transaction (type, [(account, amount)]) in posting order."""
    transactions = (
        await session.scalars(select(LedgerTransaction).order_by(LedgerTransaction.id))
    ).all()
    postings = (await session.scalars(select(LedgerPosting).order_by(LedgerPosting.id))).all()
    by_transaction: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for p in postings:
        by_transaction[p.transaction_id].append((p.account, p.amount))
    return [(t.type, by_transaction[t.id]) for t in transactions]


async def balances(session: AsyncSession) -> dict[tuple[str, str], int]:
    """(account, currency) -> sum of amounts (debit positive)."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for p in (await session.scalars(select(LedgerPosting))).all():
        totals[(p.account, p.currency)] += p.amount
    return {k: v for k, v in totals.items() if v != 0}


async def events(session: AsyncSession, name: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.name == name).order_by(OutboxMessage.seq)
    )
    return list(rows)
