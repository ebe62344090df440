"""Every query of reconciliation: the ledger's side of a period (one row per transaction that
touched a provider's clearing account), the objects it maps to provider ids, and the runs
with their mismatches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.payments.domain import chargeback as chargeback_rules
from marketplace.payments.domain import ledger as rules
from marketplace.payments.models import (
    Chargeback,
    LedgerPosting,
    LedgerTransaction,
    Payment,
    Payout,
    ReconciliationMismatch,
    ReconciliationRun,
    Refund,
)
from marketplace.platform.db import insert_ignore
from marketplace.platform.pagination import PageParams, SortKey, paginate

_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True, slots=True)
class LedgerMovement:
    """A ledger transaction as the provider saw it: what it did to clearing, and the part of
    that which was the provider's fee."""

    key: str
    type: str
    currency: str
    payment_id: str | None
    refund_id: str | None
    clearing: int
    fee: int


async def movements(
    session: AsyncSession, provider: str, start: datetime, end: datetime
) -> list[LedgerMovement]:
    clearing = rules.gateway_clearing(provider)
    fee_accounts = (
        rules.gateway_fee_expense(provider),
        chargeback_rules.dispute_fee_expense(provider),
    )
    rows = await session.execute(
        select(
            LedgerTransaction.key,
            LedgerTransaction.type,
            LedgerTransaction.currency,
            LedgerTransaction.payment_id,
            LedgerTransaction.refund_id,
            func.sum(case((LedgerPosting.account == clearing, LedgerPosting.amount), else_=0)),
            func.sum(
                case((LedgerPosting.account.in_(fee_accounts), LedgerPosting.amount), else_=0)
            ),
        )
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .where(
            LedgerTransaction.created_at >= start,
            LedgerTransaction.created_at < end,
            LedgerPosting.account.in_((clearing, *fee_accounts)),
        )
        .group_by(
            LedgerTransaction.id,
            LedgerTransaction.key,
            LedgerTransaction.type,
            LedgerTransaction.currency,
            LedgerTransaction.payment_id,
            LedgerTransaction.refund_id,
        )
        .order_by(LedgerTransaction.id)
    )
    return [
        LedgerMovement(str(k), str(t), str(c), p, r, int(cl or 0), int(fee or 0))
        for k, t, c, p, r, cl, fee in rows.all()
    ]


async def provider_payment_ids(session: AsyncSession, ids: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(
        select(Payment.id, Payment.provider_payment_id).where(Payment.id.in_(list(ids)))
    )
    return {i: p for i, p in rows.all() if p}


async def provider_refund_ids(session: AsyncSession, ids: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(
        select(Refund.id, Refund.provider_refund_id).where(Refund.id.in_(list(ids)))
    )
    return {i: p for i, p in rows.all() if p}


async def provider_dispute_ids(session: AsyncSession, ids: Sequence[str]) -> dict[str, str]:
    rows = await session.execute(
        select(Chargeback.id, Chargeback.provider_dispute_id).where(Chargeback.id.in_(list(ids)))
    )
    return {str(i): str(p) for i, p in rows.all()}


async def provider_transfer_ids(session: AsyncSession, ids: Sequence[str]) -> dict[str, str]:
    """Our payouts' ids to the id the provider's statements list them under (its settlement
    id, else its transfer id), where it gave us one."""
    rows = await session.execute(
        select(
            Payout.id, func.coalesce(Payout.provider_settlement_id, Payout.provider_transfer_id)
        ).where(Payout.id.in_(list(ids)))
    )
    return {str(i): str(p) for i, p in rows.all() if p}


# --- runs -----------------------------------------------------------------------------------


async def insert_run(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Insert unless the run's dedupe key exists (the daily run of a provider and day)."""
    result = await session.execute(
        insert_ignore(
            ReconciliationRun.__table__,  # type: ignore[arg-type]
            session.get_bind().dialect.name,
            [row],
        ),
        execution_options=_NO_SYNC,
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def run(session: AsyncSession, run_id: str) -> ReconciliationRun | None:
    return await session.get(ReconciliationRun, run_id, populate_existing=True)


async def finish_run(
    session: AsyncSession,
    run_id: str,
    *,
    status: str,
    ledger_records: int,
    provider_records: int,
    mismatch_count: int,
    now: datetime,
) -> bool:
    """pending → completed | failed, once."""
    result = await session.execute(
        update(ReconciliationRun)
        .where(ReconciliationRun.id == run_id, ReconciliationRun.status == "pending")
        .values(
            status=status,
            ledger_records=ledger_records,
            provider_records=provider_records,
            mismatch_count=mismatch_count,
            finished_at=now,
        ),
        execution_options=_NO_SYNC,
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def runs(
    session: AsyncSession, page: PageParams
) -> tuple[list[ReconciliationRun], str | None]:
    items, cursor = await paginate(
        session,
        select(ReconciliationRun),
        keys=[SortKey(ReconciliationRun.id, descending=True)],
        params=page,
        cursor_of=lambda r: [r.id],
    )
    return list(items), cursor


async def mismatches(session: AsyncSession, run_id: str) -> list[ReconciliationMismatch]:
    return list(
        await session.scalars(
            select(ReconciliationMismatch)
            .where(ReconciliationMismatch.run_id == run_id)
            .order_by(ReconciliationMismatch.kind, ReconciliationMismatch.provider_object_id)
        )
    )
