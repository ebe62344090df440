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
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.payments.models import (
    CommissionLineRow,
    Payment,
    PaymentShare,
    Refund,
    WebhookEvent,
)
from marketplace.platform import direct
from marketplace.platform.db import built_once, insert_ignore_rows

_NO_SYNC = {"synchronize_session": False}
_payments = cast(Table, Payment.__table__)
_webhook_events = cast(Table, WebhookEvent.__table__)


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


@dataclass(frozen=True, slots=True)
class PaymentState:
    """A payment's id and status: what applying a provider's event decides on."""

    id: str
    status: str


# The succeeded one first: failed payments may carry the id of another's charge.
_BY_PROVIDER_ORDER = (case((_payments.c.status == "succeeded", 0), else_=1), _payments.c.created_at)
_STATE_BY_ID = select(_payments.c.id, _payments.c.status).where(
    _payments.c.id == bindparam("payment_id")
)
_STATE_BY_PROVIDER_ID = (
    select(_payments.c.id, _payments.c.status)
    .where(
        _payments.c.provider == bindparam("provider_name"),
        _payments.c.provider_payment_id == bindparam("provider_payment"),
    )
    .order_by(*_BY_PROVIDER_ORDER)
    .limit(1)
)


async def payment_state(
    session: AsyncSession,
    *,
    payment_id: str | None,
    provider: str,
    provider_payment_id: str | None,
) -> PaymentState | None:
    """The payment an event names: by our id, else by the provider's payment id."""
    if payment_id:
        row = (await direct.execute(session, _STATE_BY_ID, {"payment_id": payment_id})).first()
        if row is not None:
            return PaymentState(str(row[0]), str(row[1]))
    if provider_payment_id:
        params = {"provider_name": provider, "provider_payment": provider_payment_id}
        row = (await direct.execute(session, _STATE_BY_PROVIDER_ID, params)).first()
        if row is not None:
            return PaymentState(str(row[0]), str(row[1]))
    return None


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
    decided already) as an object outside the session: the winner needs the row, and this
    saves reading it again."""
    names = tuple(sorted(values))
    statement = built_once(
        ("payments.leave_pending_returning", names),
        lambda: direct.returning_all(
            Payment,
            update(_payments)
            .where(_payments.c.id == bindparam("the_payment"), _payments.c.status == "pending")
            .values(
                status=bindparam("to_status"),
                updated_at=bindparam("at"),
                **{n: bindparam(f"set_{n}") for n in names},
            ),
        ),
    )
    params = {
        "the_payment": payment_id,
        "to_status": status,
        "at": now,
        **{f"set_{n}": values[n] for n in names},
    }
    found = await direct.returning_objects(session, Payment, statement, params)
    return found[0] if found else None


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
    dialect = _dialect(session)
    statement = built_once(
        ("payments.insert_webhook_event", dialect),
        lambda: insert_ignore_rows(_webhook_events, dialect),
    )
    return (await direct.execute(session, statement, row)).rowcount == 1


async def webhook_event(session: AsyncSession, event_id: str) -> WebhookEvent | None:
    return await session.get(WebhookEvent, event_id, populate_existing=True)


_FINISH_WEBHOOK_EVENT = (
    update(_webhook_events)
    .where(
        _webhook_events.c.id == bindparam("event_id"),
        _webhook_events.c.status == "received",
    )
    .values(status=bindparam("outcome"), processed_at=bindparam("processed"))
)


async def finish_webhook_event(
    session: AsyncSession, event_id: str, *, status: str, now: datetime
) -> bool:
    params = {"event_id": event_id, "outcome": status, "processed": now}
    return (await direct.execute(session, _FINISH_WEBHOOK_EVENT, params)).rowcount == 1
