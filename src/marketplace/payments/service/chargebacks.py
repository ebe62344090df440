"""Chargeback use cases: a provider's dispute opened (the disputed amount charged to the
payment's vendors, once) and closed (won: given back; lost: kept off), and the admin's reads.

Both are applied from the provider's webhook (`webhooks._apply`). Opening locks the
payment's shares, splits the amount (`domain.chargeback.allocate`), inserts the chargeback
unless the (provider, dispute id) exists — the unique index decides between duplicate
deliveries — reserves each part against its vendor order like a refund (so refunds and
chargebacks together never exceed what was captured), and posts one ledger transaction
(`chargeback:<id>`, type `adjustment`). Closing flips `open` by a conditional UPDATE; a won
dispute posts `chargeback_won:<id>` and frees the reservations. Nothing here commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from marketplace.payments.domain import chargeback as rules
from marketplace.payments.domain.chargeback import ShareRoom, VendorPart
from marketplace.payments.domain.ledger import VendorShare
from marketplace.payments.errors import ChargebackNotFound
from marketplace.payments.events import ChargebackClosed, ChargebackOpened
from marketplace.payments.models import Chargeback, ChargebackAllocation, Payment
from marketplace.payments.providers import ProviderEvent
from marketplace.payments.repository import chargeback as repo
from marketplace.payments.repository import payment as payments_repo
from marketplace.payments.service import ledger
from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id
from marketplace.platform.pagination import PageParams
from marketplace.platform.uow import UnitOfWork

logger = logging.getLogger(__name__)

STATUSES: Final = ("open", "won", "lost")


class PaymentNotSettledYet(Exception):
    """A dispute for a payment whose capture is not recorded yet: the webhook job retries
    (the capture's own event or the confirm records it meanwhile)."""


@dataclass(frozen=True, slots=True)
class AllocationView:
    vendor_order_id: str
    vendor_id: str
    amount: int
    from_available: bool


@dataclass(frozen=True, slots=True)
class ChargebackView:
    id: str
    provider: str
    provider_dispute_id: str
    provider_payment_id: str | None
    payment_id: str
    order_id: str
    status: str
    reason: str | None
    amount: int
    currency: str
    fee_amount: int
    unallocated_amount: int
    commission_reversed: bool
    allocations: tuple[AllocationView, ...]
    opened_at: datetime
    closed_at: datetime | None


def _view(row: Chargeback, allocations: list[ChargebackAllocation]) -> ChargebackView:
    return ChargebackView(
        id=row.id,
        provider=row.provider,
        provider_dispute_id=row.provider_dispute_id,
        provider_payment_id=row.provider_payment_id,
        payment_id=row.payment_id,
        order_id=row.order_id,
        status=row.status,
        reason=row.reason,
        amount=row.amount,
        currency=row.currency,
        fee_amount=row.fee_amount,
        unallocated_amount=row.unallocated_amount,
        commission_reversed=row.commission_reversed,
        allocations=tuple(
            AllocationView(a.vendor_order_id, a.vendor_id, a.amount, a.from_available)
            for a in allocations
        ),
        opened_at=row.opened_at,
        closed_at=row.closed_at,
    )


async def open_chargeback(
    uow: UnitOfWork,
    payment: Payment,
    event: ProviderEvent,
    *,
    reverse_commission: bool,
) -> Chargeback | None:
    """Record the dispute and charge it to the vendors; None when it was recorded already."""
    assert event.provider_dispute_id is not None
    if payment.status != "succeeded":
        raise PaymentNotSettledYet(f"payment {payment.id} is {payment.status}")
    if event.dispute_amount <= 0:
        logger.error("dispute without an amount", extra={"dispute": event.provider_dispute_id})
        return None
    existing = await repo.by_dispute(uow.session, payment.provider, event.provider_dispute_id)
    if existing is not None:
        return None
    shares = await repo.lock_shares(uow.session, payment.id)
    taken = await repo.charged_back(uow.session, [s.vendor_order_id for s in shares])
    rooms = [
        ShareRoom(
            s.vendor_order_id,
            s.gross_amount,
            s.refund_reserved_amount,
            taken[s.vendor_order_id][0] if s.vendor_order_id in taken else 0,
            taken[s.vendor_order_id][1] if s.vendor_order_id in taken else None,
        )
        for s in shares
    ]
    parts, unallocated = rules.allocate(event.dispute_amount, rooms)
    now = utcnow()
    chargeback_id = new_id("cbk")
    inserted = await repo.insert(
        uow.session,
        {
            "id": chargeback_id,
            "provider": payment.provider,
            "provider_dispute_id": event.provider_dispute_id,
            "provider_payment_id": event.provider_payment_id or payment.provider_payment_id,
            "payment_id": payment.id,
            "order_id": payment.order_id,
            "status": "open",
            "reason": event.dispute_reason[:60] if event.dispute_reason else None,
            "amount": event.dispute_amount,
            "currency": payment.currency,
            "fee_amount": max(event.dispute_fee, 0),
            "unallocated_amount": unallocated,
            "commission_reversed": reverse_commission,
            "opened_at": now,
            "closed_at": None,
        },
    )
    if not inserted:
        return None  # a concurrent delivery of the same dispute won the unique index
    if event.dispute_currency and event.dispute_currency != payment.currency:
        logger.error(
            "dispute currency differs from the payment's",
            extra={"chargeback_id": chargeback_id, "currency": event.dispute_currency},
        )
    by_vo = {s.vendor_order_id: s for s in shares}
    legs: list[tuple[VendorShare, VendorPart, bool]] = []
    for part in parts:
        row = by_vo[part.vendor_order_id]
        # The shares are locked: the room computed above is still there.
        reserved = await repo.reserve(uow.session, part.vendor_order_id, part.amount)
        assert reserved, part
        released = row.hold_status == "released"
        uow.session.add(
            ChargebackAllocation(
                chargeback_id=chargeback_id,
                vendor_order_id=part.vendor_order_id,
                vendor_id=row.vendor_id,
                amount=part.amount,
                range_start=part.range_start,
                from_available=released,
            )
        )
        legs.append((ledger.vendor_share(row), part, released))
    await uow.session.flush()
    await ledger.post_transaction(
        uow,
        key=f"chargeback:{chargeback_id}",
        type_="adjustment",
        currency=payment.currency,
        postings=rules.opening_postings(
            payment.provider,
            payment.currency,
            legs,
            unallocated=unallocated,
            fee=max(event.dispute_fee, 0),
            reverse_commission=reverse_commission,
        ),
        description=f"chargeback {chargeback_id} opened on payment {payment.id}",
        order_id=payment.order_id,
        payment_id=payment.id,
        now=now,
    )
    chargeback = await repo.get(uow.session, chargeback_id)
    assert chargeback is not None
    uow.publish(
        ChargebackOpened(
            chargeback_id=chargeback_id,
            payment_id=payment.id,
            order_id=payment.order_id,
            amount=chargeback.amount,
            currency=chargeback.currency,
            reason=chargeback.reason,
            vendor_ids=sorted({by_vo[p.vendor_order_id].vendor_id for p in parts}),
        )
    )
    return chargeback


async def close_chargeback(
    uow: UnitOfWork,
    payment: Payment,
    event: ProviderEvent,
    *,
    reverse_commission: bool,
) -> bool:
    """Decide a dispute once: won gives back what opening took (the vendors' parts, to
    available if their hold has ended since, and the fee); lost leaves it."""
    assert event.provider_dispute_id is not None
    assert event.dispute_outcome is not None
    chargeback = await repo.by_dispute(uow.session, payment.provider, event.provider_dispute_id)
    if chargeback is None:
        # The closing event arrived first (events come in any order): it carries the whole
        # dispute, so open it from there, then close it.
        await open_chargeback(uow, payment, event, reverse_commission=reverse_commission)
        chargeback = await repo.by_dispute(uow.session, payment.provider, event.provider_dispute_id)
        if chargeback is None:
            return False
    now = utcnow()
    if not await repo.close(uow.session, chargeback.id, event.dispute_outcome, now):
        return False
    allocations = await repo.allocations(uow.session, [chargeback.id])
    if event.dispute_outcome == "won":
        legs: list[tuple[VendorShare, VendorPart, bool]] = []
        for allocation in allocations:
            hold = await repo.release(uow.session, allocation.vendor_order_id, allocation.amount)
            row = await payments_repo.share(uow.session, allocation.vendor_order_id)
            assert row is not None
            part = VendorPart(allocation.vendor_order_id, allocation.amount, allocation.range_start)
            legs.append((ledger.vendor_share(row), part, hold == "released"))
        await ledger.post_transaction(
            uow,
            key=f"chargeback_won:{chargeback.id}",
            type_="adjustment",
            currency=chargeback.currency,
            postings=rules.reversal_postings(
                chargeback.provider,
                chargeback.currency,
                legs,
                unallocated=chargeback.unallocated_amount,
                fee=chargeback.fee_amount,
                reverse_commission=chargeback.commission_reversed,
            ),
            description=f"chargeback {chargeback.id} won: reversed",
            order_id=chargeback.order_id,
            payment_id=chargeback.payment_id,
            now=now,
        )
    uow.publish(
        ChargebackClosed(
            chargeback_id=chargeback.id,
            payment_id=chargeback.payment_id,
            order_id=chargeback.order_id,
            amount=chargeback.amount,
            currency=chargeback.currency,
            outcome=event.dispute_outcome,
            vendor_ids=sorted({a.vendor_id for a in allocations}),
        )
    )
    return True


async def get_chargeback(uow: UnitOfWork, chargeback_id: str) -> ChargebackView:
    row = await repo.get(uow.session, chargeback_id)
    if row is None:
        raise ChargebackNotFound(f"no chargeback {chargeback_id}")
    return _view(row, await repo.allocations(uow.session, [row.id]))


async def list_chargebacks(
    uow: UnitOfWork, *, status: str | None, page: PageParams
) -> tuple[list[ChargebackView], str | None]:
    rows, cursor = await repo.listing(uow.session, status=status, page=page)
    by_chargeback: dict[str, list[ChargebackAllocation]] = {r.id: [] for r in rows}
    for allocation in await repo.allocations(uow.session, [r.id for r in rows]):
        by_chargeback[allocation.chargeback_id].append(allocation)
    return [_view(r, by_chargeback[r.id]) for r in rows], cursor


__all__ = [
    "STATUSES",
    "ChargebackView",
    "PaymentNotSettledYet",
    "close_chargeback",
    "get_chargeback",
    "list_chargebacks",
    "open_chargeback",
]
