"""Every query of payouts, payout schedules and runs, and the balance lock.

Transitions are conditional UPDATEs whose WHERE clause is the rule (`status IN (...)`): the
database decides under concurrency and the caller learns from the row count whether it won,
and only the winner posts to the ledger. A payout is decided under the lock of its vendor
and currency (`lock_balance`), so the balance read after taking it is the one it takes from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.payments.models import LedgerPosting, Payout, PayoutRun, PayoutSchedule
from marketplace.payments.models.payout import PayoutBalanceLock
from marketplace.platform.db import insert_ignore
from marketplace.platform.pagination import PageParams, SortKey, paginate

_NO_SYNC = {"synchronize_session": False}


async def _rowcount(session: AsyncSession, stmt: Any) -> int:
    result = await session.execute(stmt, execution_options=_NO_SYNC)
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- the balance lock -----------------------------------------------------------------------


async def lock_balance(session: AsyncSession, vendor_id: str, currency: str, now: datetime) -> None:
    """Hold the (vendor, currency) lock until the transaction ends: the row is created once,
    then every payout of that balance updates it, and an UPDATE waits for the row lock of
    any other transaction that updated it (PostgreSQL; SQLite has one writer anyway)."""
    await session.execute(
        insert_ignore(
            PayoutBalanceLock.__table__,  # type: ignore[arg-type]
            session.get_bind().dialect.name,
            [{"vendor_id": vendor_id, "currency": currency, "locked_at": now}],
        ),
        execution_options=_NO_SYNC,
    )
    await session.execute(
        update(PayoutBalanceLock)
        .where(PayoutBalanceLock.vendor_id == vendor_id, PayoutBalanceLock.currency == currency)
        .values(locked_at=now),
        execution_options=_NO_SYNC,
    )


async def account_sum(session: AsyncSession, account: str, currency: str) -> int:
    """sum(amount) of an account's postings (a fresh statement: under READ COMMITTED it sees
    everything committed before it, the other payouts' reservations included)."""
    total = await session.scalar(
        select(func.sum(LedgerPosting.amount)).where(
            LedgerPosting.account == account, LedgerPosting.currency == currency
        )
    )
    return int(total or 0)


async def account_sums(session: AsyncSession, account: str) -> dict[str, int]:
    rows = (
        await session.execute(
            select(LedgerPosting.currency, func.sum(LedgerPosting.amount))
            .where(LedgerPosting.account == account)
            .group_by(LedgerPosting.currency)
        )
    ).all()
    return {str(c): int(total or 0) for c, total in rows}


async def negative_balances(
    session: AsyncSession, prefix: str, page: PageParams
) -> tuple[list[Any], str | None]:
    """(account, currency, sum) of the accounts starting with `prefix` whose sum is positive
    (a debit balance: for a credit-normal vendor account, the vendor owes the platform)."""
    total = func.sum(LedgerPosting.amount)
    stmt: Any = (
        select(LedgerPosting.account, LedgerPosting.currency, total)
        .where(LedgerPosting.account.startswith(prefix, autoescape=True))
        .group_by(LedgerPosting.account, LedgerPosting.currency)
        .having(total > 0)
    )
    return await paginate(
        session,
        stmt,
        keys=[SortKey(LedgerPosting.account), SortKey(LedgerPosting.currency)],
        params=page,
        cursor_of=lambda row: [row[0], row[1]],
        rows=True,
    )


# --- payouts --------------------------------------------------------------------------------


async def payout(session: AsyncSession, payout_id: str) -> Payout | None:
    found: Payout | None = await session.scalar(
        select(Payout).where(Payout.id == payout_id).execution_options(populate_existing=True)
    )
    return found


async def payout_by_key(session: AsyncSession, vendor_id: str, key: str) -> Payout | None:
    found: Payout | None = await session.scalar(
        select(Payout)
        .where(Payout.vendor_id == vendor_id, Payout.idempotency_key == key)
        .execution_options(populate_existing=True)
    )
    return found


async def payout_by_transfer(
    session: AsyncSession, provider: str, provider_transfer_id: str
) -> Payout | None:
    found: Payout | None = await session.scalar(
        select(Payout)
        .where(Payout.provider == provider, Payout.provider_transfer_id == provider_transfer_id)
        .execution_options(populate_existing=True)
    )
    return found


async def vendor_payouts(
    session: AsyncSession, vendor_id: str, page: PageParams
) -> tuple[list[Payout], str | None]:
    items, cursor = await paginate(
        session,
        select(Payout).where(Payout.vendor_id == vendor_id),
        keys=[SortKey(Payout.id, descending=True)],
        params=page,
        cursor_of=lambda p: [p.id],
    )
    return list(items), cursor


async def payouts_of_runs(session: AsyncSession, run_ids: Sequence[str]) -> list[Payout]:
    if not run_ids:
        return []
    return list(
        await session.scalars(
            select(Payout).where(Payout.run_id.in_(list(run_ids))).order_by(Payout.id)
        )
    )


async def transition(
    session: AsyncSession,
    payout_id: str,
    *,
    from_statuses: Sequence[str],
    to: str,
    now: datetime,
    **values: Any,
) -> bool:
    """`from_statuses` → `to` with `values`; True for the one caller that made the change."""
    return (
        await _rowcount(
            session,
            update(Payout)
            .where(Payout.id == payout_id, Payout.status.in_(list(from_statuses)))
            .values(status=to, updated_at=now, **values),
        )
        == 1
    )


async def set_settlement_id(session: AsyncSession, payout_id: str, settlement_id: str) -> None:
    """Note where the provider's statements list a payout that is paid already (its answer
    said paid before the item's webhook named the transaction)."""
    await session.execute(
        update(Payout)
        .where(
            Payout.id == payout_id,
            Payout.status == "paid",
            Payout.provider_settlement_id.is_(None),
        )
        .values(provider_settlement_id=settlement_id),
        execution_options=_NO_SYNC,
    )


async def stale_pending(session: AsyncSession, before: datetime, limit: int) -> list[str]:
    """Payouts still `pending` (not accepted by the provider) since before `before`."""
    return list(
        await session.scalars(
            select(Payout.id)
            .where(Payout.status == "pending", Payout.updated_at < before)
            .order_by(Payout.updated_at)
            .limit(limit)
        )
    )


async def touch(session: AsyncSession, payout_id: str, now: datetime) -> None:
    await session.execute(
        update(Payout)
        .where(Payout.id == payout_id, Payout.status == "pending")
        .values(updated_at=now),
        execution_options=_NO_SYNC,
    )


# --- schedules ------------------------------------------------------------------------------


async def schedule(session: AsyncSession, vendor_id: str) -> PayoutSchedule | None:
    return await session.get(PayoutSchedule, vendor_id, populate_existing=True)


async def schedule_for_update(session: AsyncSession, vendor_id: str) -> PayoutSchedule | None:
    found: PayoutSchedule | None = await session.scalar(
        select(PayoutSchedule)
        .where(PayoutSchedule.vendor_id == vendor_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found


async def due_schedules(session: AsyncSession, now: datetime, limit: int) -> list[PayoutSchedule]:
    return list(
        await session.scalars(
            select(PayoutSchedule)
            .where(PayoutSchedule.next_run_at <= now)
            .order_by(PayoutSchedule.next_run_at, PayoutSchedule.vendor_id)
            .limit(limit)
        )
    )


async def claim_schedule(
    session: AsyncSession, vendor_id: str, *, due: datetime, following: datetime | None
) -> bool:
    """Move a due schedule to its next date; True for the one scheduler that did (it pays
    the period, any other finds the date moved and leaves it)."""
    return (
        await _rowcount(
            session,
            update(PayoutSchedule)
            .where(PayoutSchedule.vendor_id == vendor_id, PayoutSchedule.next_run_at == due)
            .values(next_run_at=following),
        )
        == 1
    )


# --- runs -----------------------------------------------------------------------------------


async def run(session: AsyncSession, run_id: str) -> PayoutRun | None:
    return await session.get(PayoutRun, run_id, populate_existing=True)


async def runs(session: AsyncSession, page: PageParams) -> tuple[list[PayoutRun], str | None]:
    items, cursor = await paginate(
        session,
        select(PayoutRun),
        keys=[SortKey(PayoutRun.id, descending=True)],
        params=page,
        cursor_of=lambda r: [r.id],
    )
    return list(items), cursor
