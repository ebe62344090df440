"""Every query of payments, refunds, holds and webhook events.

State changes are conditional UPDATEs whose WHERE clause is the rule (`status = 'pending'`,
`refund_reserved + :a <= gross`): the database decides under concurrency and the caller
learns from the row count (or the returned row) whether it won. The winner holds the row's
lock until it commits, so what it posts to the ledger is posted once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.payments.models import (
    CommissionLineRow,
    Payment,
    PaymentShare,
    Refund,
    WebhookEvent,
)
from marketplace.platform.db import built_once, insert_ignore

_NO_SYNC = {"synchronize_session": False}


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _rowcount(session: AsyncSession, stmt: Any) -> int:
    result = await session.execute(stmt, execution_options=_NO_SYNC)
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- payments -------------------------------------------------------------------------------


async def payment(session: AsyncSession, payment_id: str) -> Payment | None:
    found: Payment | None = await session.scalar(
        select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    )
    return found


async def payment_by_order(session: AsyncSession, order_id: str) -> Payment | None:
    found: Payment | None = await session.scalar(
        select(Payment)
        .where(Payment.order_id == order_id)
        .execution_options(populate_existing=True)
    )
    return found


async def payment_by_provider_id(
    session: AsyncSession, provider: str, provider_payment_id: str
) -> Payment | None:
    found: Payment | None = await session.scalar(
        select(Payment)
        .where(Payment.provider == provider, Payment.provider_payment_id == provider_payment_id)
        # The succeeded one, if any: failed payments may carry the id of another's charge.
        .order_by(case((Payment.status == "succeeded", 0), else_=1), Payment.created_at)
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return found


async def shares(session: AsyncSession, payment_id: str) -> list[PaymentShare]:
    return list(
        await session.scalars(
            select(PaymentShare)
            .where(PaymentShare.payment_id == payment_id)
            .order_by(PaymentShare.vendor_order_id)
            .execution_options(populate_existing=True)
        )
    )


async def share(session: AsyncSession, vendor_order_id: str) -> PaymentShare | None:
    found: PaymentShare | None = await session.scalar(
        select(PaymentShare)
        .where(PaymentShare.vendor_order_id == vendor_order_id)
        .execution_options(populate_existing=True)
    )
    return found


async def shares_with_lines(
    session: AsyncSession, payment_id: str
) -> list[tuple[PaymentShare, list[CommissionLineRow]]]:
    """The payment's shares, each with its commission lines, in one query (the capture
    posts them all)."""
    rows = await session.execute(
        select(PaymentShare, CommissionLineRow)
        .outerjoin(
            CommissionLineRow, CommissionLineRow.vendor_order_id == PaymentShare.vendor_order_id
        )
        .where(PaymentShare.payment_id == payment_id)
        .order_by(PaymentShare.vendor_order_id, CommissionLineRow.order_item_id)
        .execution_options(populate_existing=True)
    )
    found: dict[str, tuple[PaymentShare, list[CommissionLineRow]]] = {}
    for share_row, line in rows:
        entry = found.setdefault(share_row.vendor_order_id, (share_row, []))
        if line is not None:
            entry[1].append(line)
    return list(found.values())


async def commission_lines(
    session: AsyncSession, vendor_order_ids: Sequence[str]
) -> list[CommissionLineRow]:
    return list(
        await session.scalars(
            select(CommissionLineRow)
            .where(CommissionLineRow.vendor_order_id.in_(list(vendor_order_ids)))
            .order_by(CommissionLineRow.vendor_order_id, CommissionLineRow.order_item_id)
        )
    )


async def leave_pending(
    session: AsyncSession, payment_id: str, status: str, *, now: datetime, **values: Any
) -> bool:
    """pending → `status` (succeeded, failed, canceled) with `values`; True for the one
    caller that made the change, False when the payment had been decided already."""
    return (
        await _rowcount(
            session,
            update(Payment)
            .where(Payment.id == payment_id, Payment.status == "pending")
            .values(status=status, updated_at=now, **values),
        )
        == 1
    )


async def leave_pending_returning(
    session: AsyncSession, payment_id: str, status: str, *, now: datetime, **values: Any
) -> Payment | None:
    """`leave_pending`, answering with the changed row (None when the payment had been
    decided already): the winner needs the row, and this saves reading it again."""
    names = tuple(sorted(values))
    statement = built_once(
        ("payments.leave_pending_returning", names),
        lambda: (
            update(Payment)
            .where(Payment.id == bindparam("the_payment"), Payment.status == "pending")
            .values(
                status=bindparam("to_status"),
                updated_at=bindparam("at"),
                **{n: bindparam(f"set_{n}") for n in names},
            )
            .returning(Payment)
        ),
    )
    found: Payment | None = await session.scalar(
        statement,
        {
            "the_payment": payment_id,
            "to_status": status,
            "at": now,
            **{f"set_{n}": values[n] for n in names},
        },
        execution_options={"synchronize_session": False, "populate_existing": True},
    )
    return found


# --- refunds --------------------------------------------------------------------------------


async def reserve_refund(session: AsyncSession, vendor_order_id: str, amount: int) -> bool:
    """Count `amount` against the vendor order's refundable remainder, if it fits."""
    return (
        await _rowcount(
            session,
            update(PaymentShare)
            .where(
                PaymentShare.vendor_order_id == vendor_order_id,
                PaymentShare.refund_reserved_amount + amount <= PaymentShare.gross_amount,
            )
            .values(refund_reserved_amount=PaymentShare.refund_reserved_amount + amount),
        )
        == 1
    )


async def unreserve_refund(session: AsyncSession, vendor_order_id: str, amount: int) -> None:
    await session.execute(
        update(PaymentShare)
        .where(PaymentShare.vendor_order_id == vendor_order_id)
        .values(refund_reserved_amount=PaymentShare.refund_reserved_amount - amount),
        execution_options=_NO_SYNC,
    )


@dataclass(frozen=True, slots=True)
class RefundedShare:
    refunded_before: int
    hold_status: str


async def add_refunded(
    session: AsyncSession, vendor_order_id: str, payment_id: str, amount: int
) -> RefundedShare:
    """Count a succeeded refund. The UPDATE locks the share row, so the hold status read
    here stays true until commit: a release cannot slip between it and the posting."""
    row = (
        await session.execute(
            update(PaymentShare)
            .where(PaymentShare.vendor_order_id == vendor_order_id)
            .values(refunded_amount=PaymentShare.refunded_amount + amount)
            .returning(PaymentShare.refunded_amount, PaymentShare.hold_status),
            execution_options=_NO_SYNC,
        )
    ).one()
    await session.execute(
        update(Payment)
        .where(Payment.id == payment_id)
        .values(refunded_amount=Payment.refunded_amount + amount),
        execution_options=_NO_SYNC,
    )
    return RefundedShare(refunded_before=int(row[0]) - amount, hold_status=str(row[1]))


async def refund(session: AsyncSession, refund_id: str) -> Refund | None:
    found: Refund | None = await session.scalar(
        select(Refund).where(Refund.id == refund_id).execution_options(populate_existing=True)
    )
    return found


async def refund_by_key(session: AsyncSession, order_id: str, key: str) -> Refund | None:
    found: Refund | None = await session.scalar(
        select(Refund)
        .where(Refund.order_id == order_id, Refund.idempotency_key == key)
        .execution_options(populate_existing=True)
    )
    return found


async def settle_refund(
    session: AsyncSession,
    refund_id: str,
    *,
    status: str,
    provider_refund_id: str | None,
    code: str | None,
    message: str | None,
    now: datetime,
) -> bool:
    """pending → succeeded | failed; True for the one caller that made the change."""
    return (
        await _rowcount(
            session,
            update(Refund)
            .where(Refund.id == refund_id, Refund.status == "pending")
            .values(
                status=status,
                provider_refund_id=provider_refund_id,
                failure_code=code,
                failure_message=message,
                updated_at=now,
            ),
        )
        == 1
    )


# --- holds ----------------------------------------------------------------------------------


async def start_hold(
    session: AsyncSession, vendor_order_id: str, *, delivered_at: datetime, release_at: datetime
) -> bool:
    return (
        await _rowcount(
            session,
            update(PaymentShare)
            .where(
                PaymentShare.vendor_order_id == vendor_order_id,
                PaymentShare.hold_status == "none",
            )
            .values(hold_status="holding", delivered_at=delivered_at, release_at=release_at),
        )
        == 1
    )


async def due_holds(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Vendor orders whose hold is over, of payments that were captured."""
    return list(
        await session.scalars(
            select(PaymentShare.vendor_order_id)
            .join(Payment, Payment.id == PaymentShare.payment_id)
            .where(
                PaymentShare.hold_status == "holding",
                PaymentShare.release_at <= now,
                Payment.status == "succeeded",
            )
            .order_by(PaymentShare.release_at, PaymentShare.vendor_order_id)
            .limit(limit)
        )
    )


async def release_hold(session: AsyncSession, vendor_order_id: str, now: datetime) -> bool:
    return (
        await _rowcount(
            session,
            update(PaymentShare)
            .where(
                PaymentShare.vendor_order_id == vendor_order_id,
                PaymentShare.hold_status == "holding",
                PaymentShare.release_at <= now,
            )
            .values(hold_status="released", released_at=now),
        )
        == 1
    )


# --- webhook events -------------------------------------------------------------------------


async def insert_webhook_event(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Store an event unless (provider, provider event id) is already stored."""
    return (
        await _rowcount(
            session,
            insert_ignore(WebhookEvent.__table__, _dialect(session), [row]),  # type: ignore[arg-type]
        )
        == 1
    )


async def webhook_event(session: AsyncSession, event_id: str) -> WebhookEvent | None:
    return await session.get(WebhookEvent, event_id, populate_existing=True)


async def finish_webhook_event(
    session: AsyncSession, event_id: str, *, status: str, now: datetime
) -> bool:
    return (
        await _rowcount(
            session,
            update(WebhookEvent)
            .where(WebhookEvent.id == event_id, WebhookEvent.status == "received")
            .values(status=status, processed_at=now),
        )
        == 1
    )
