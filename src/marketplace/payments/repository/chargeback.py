"""Every query of chargebacks and their allocations.

A chargeback row is inserted unless (provider, provider dispute id) exists: the unique index
decides which of two deliveries of one dispute applies it. Its status leaves `open` by a
conditional UPDATE, so a dispute is closed (and a won one reversed) once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.payments.models import Chargeback, ChargebackAllocation, PaymentShare
from marketplace.platform.db import insert_ignore
from marketplace.platform.pagination import PageParams, SortKey, paginate

_NO_SYNC = {"synchronize_session": False}


async def lock_shares(session: AsyncSession, payment_id: str) -> list[PaymentShare]:
    """The payment's shares, locked in a fixed order (no deadlock between two payments'
    disputes and refunds): what a chargeback reads of them stays true until commit."""
    return list(
        await session.scalars(
            select(PaymentShare)
            .where(PaymentShare.payment_id == payment_id)
            .order_by(PaymentShare.vendor_order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


async def charged_back(
    session: AsyncSession, vendor_order_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """Per vendor order, the amount of its open or lost chargebacks and the lowest start of
    their ranges (they take the top of its gross)."""
    rows = await session.execute(
        select(
            ChargebackAllocation.vendor_order_id,
            func.sum(ChargebackAllocation.amount),
            func.min(ChargebackAllocation.range_start),
        )
        .join(Chargeback, Chargeback.id == ChargebackAllocation.chargeback_id)
        .where(
            ChargebackAllocation.vendor_order_id.in_(list(vendor_order_ids)),
            Chargeback.status.in_(("open", "lost")),
        )
        .group_by(ChargebackAllocation.vendor_order_id)
    )
    return {str(vo): (int(total), int(low)) for vo, total, low in rows.all()}


async def insert(session: AsyncSession, row: dict[str, Any]) -> bool:
    result = await session.execute(
        insert_ignore(
            Chargeback.__table__,  # type: ignore[arg-type]
            session.get_bind().dialect.name,
            [row],
        ),
        execution_options=_NO_SYNC,
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def reserve(session: AsyncSession, vendor_order_id: str, amount: int) -> bool:
    """Count a chargeback against the vendor order's gross with its refunds: together they
    never exceed it (the same conditional UPDATE that guards refunds)."""
    result = await session.execute(
        update(PaymentShare)
        .where(
            PaymentShare.vendor_order_id == vendor_order_id,
            PaymentShare.refund_reserved_amount + amount <= PaymentShare.gross_amount,
        )
        .values(refund_reserved_amount=PaymentShare.refund_reserved_amount + amount),
        execution_options=_NO_SYNC,
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def release(session: AsyncSession, vendor_order_id: str, amount: int) -> str:
    """Give a won chargeback's part back to the vendor order; returns its hold status now
    (the UPDATE locks the row, so a hold release cannot slip in before commit)."""
    row = (
        await session.execute(
            update(PaymentShare)
            .where(PaymentShare.vendor_order_id == vendor_order_id)
            .values(refund_reserved_amount=PaymentShare.refund_reserved_amount - amount)
            .returning(PaymentShare.hold_status),
            execution_options=_NO_SYNC,
        )
    ).one()
    return str(row[0])


async def by_dispute(session: AsyncSession, provider: str, dispute_id: str) -> Chargeback | None:
    found: Chargeback | None = await session.scalar(
        select(Chargeback)
        .where(Chargeback.provider == provider, Chargeback.provider_dispute_id == dispute_id)
        .execution_options(populate_existing=True)
    )
    return found


async def get(session: AsyncSession, chargeback_id: str) -> Chargeback | None:
    return await session.get(Chargeback, chargeback_id, populate_existing=True)


async def allocations(
    session: AsyncSession, chargeback_ids: Sequence[str]
) -> list[ChargebackAllocation]:
    if not chargeback_ids:
        return []
    return list(
        await session.scalars(
            select(ChargebackAllocation)
            .where(ChargebackAllocation.chargeback_id.in_(list(chargeback_ids)))
            .order_by(ChargebackAllocation.chargeback_id, ChargebackAllocation.vendor_order_id)
        )
    )


async def close(session: AsyncSession, chargeback_id: str, status: str, now: datetime) -> bool:
    """open → won | lost; True for the one caller that closed it."""
    result = await session.execute(
        update(Chargeback)
        .where(Chargeback.id == chargeback_id, Chargeback.status == "open")
        .values(status=status, closed_at=now),
        execution_options=_NO_SYNC,
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def listing(
    session: AsyncSession, *, status: str | None, page: PageParams
) -> tuple[list[Chargeback], str | None]:
    stmt = select(Chargeback)
    if status is not None:
        stmt = stmt.where(Chargeback.status == status)
    items, cursor = await paginate(
        session,
        stmt,
        keys=[SortKey(Chargeback.id, descending=True)],
        params=page,
        cursor_of=lambda c: [c.id],
    )
    return list(items), cursor
