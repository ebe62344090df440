"""Reconciliation: the ledger compared with a provider's own records for a period.

The provider lists its balance transactions (`PaymentProvider.list_records`, Stripe's
balance transactions are the model); the ledger's side is every transaction of the period
that touched the provider's clearing account, seen the way the provider books it: `amount`
is what it did to clearing net of the provider's fee, and `fee` that fee. Both sides are
keyed by (kind, provider object id) and compared: missing on either side, or amount or fee
different, is a mismatch stored with the run (`payments_reconciliation_run` /
`_mismatch`), and `ReconciliationMismatchFound` is published when a run finds any.

The comparison is driven by `KINDS`: per record kind, which ledger transactions belong to it
(and the id of ours they carry) and how our ids map to the provider's: charges, refunds,
disputes, won dispute reversals and transfers (paid payouts). A new kind of money movement
is one more entry there and the provider listing it; nothing else changes.

A provider that cannot list its records (`ProviderError`: an adapter without
reconciliation, or credentials it refuses) fails the run, logged; a provider out of reach
(`ProviderUnavailable`) leaves it pending for the job's retry.

A run is requested (admin, or the daily job for yesterday, once per provider and day), then
executed by the job `payments.reconcile`, which calls the provider with no transaction
open. Nothing here commits, except `execute_run`'s end of its read before that call.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.payments.errors import ReconciliationRunNotFound
from marketplace.payments.events import ReconciliationMismatchFound
from marketplace.payments.models import ReconciliationMismatch, ReconciliationRun
from marketplace.payments.providers import Gateways, ProviderError, ProviderRecord
from marketplace.payments.repository import reconciliation as repo
from marketplace.payments.repository.reconciliation import LedgerMovement
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.pagination import PageParams
from marketplace.platform.uow import UnitOfWork

logger = logging.getLogger(__name__)

RECONCILE_JOB: Final = "payments.reconcile"
RECONCILE_INTERVAL: Final = timedelta(days=1)
MAX_PERIOD: Final = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class KindRule:
    """How one kind of provider record is found in the ledger.

    `reference(movement)` is the id of ours a ledger transaction of this kind carries (the
    payment, the refund, the chargeback), or None when the transaction is not of this kind;
    `provider_ids(session, references)` maps those ids to the provider's object ids.
    Several transactions may carry one reference (a capture and its fee): they add up."""

    reference: Callable[[LedgerMovement], str | None]
    provider_ids: Callable[[AsyncSession, Sequence[str]], Awaitable[dict[str, str]]]


def _by_type(*types: str) -> Callable[[LedgerMovement], str | None]:
    def reference(movement: LedgerMovement) -> str | None:
        if movement.type not in types:
            return None
        return movement.refund_id if movement.type == "refund" else movement.payment_id

    return reference


def _by_key_prefix(prefix: str) -> Callable[[LedgerMovement], str | None]:
    def reference(movement: LedgerMovement) -> str | None:
        return movement.key.removeprefix(prefix) if movement.key.startswith(prefix) else None

    return reference


KINDS: Final[dict[str, KindRule]] = {
    "charge": KindRule(_by_type("capture", "fee"), repo.provider_payment_ids),
    "refund": KindRule(_by_type("refund"), repo.provider_refund_ids),
    "dispute": KindRule(_by_key_prefix("chargeback:"), repo.provider_dispute_ids),
    "dispute_reversal": KindRule(_by_key_prefix("chargeback_won:"), repo.provider_dispute_ids),
    # A payout leaves clearing when paid (`payout_paid:<payout>`); the provider books it as
    # a transfer (Stripe: a `transfer` or `payout` balance transaction) with no fee.
    "transfer": KindRule(_by_key_prefix("payout_paid:"), repo.provider_transfer_ids),
}


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    source_id: str
    amount: int
    fee: int
    currency: str
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: str
    provider_object_id: str
    problem: str  # missing_in_ledger | missing_at_provider | amount_differs
    currency: str
    ledger_amount: int | None
    provider_amount: int | None
    ledger_fee: int | None
    provider_fee: int | None
    reference: str | None


def compare(ledger_side: Sequence[Entry], provider_side: Sequence[Entry]) -> list[Mismatch]:
    """Pure: the mismatches between two sides keyed by (kind, provider object id)."""
    ours = {(e.kind, e.source_id): e for e in ledger_side}
    theirs = {(e.kind, e.source_id): e for e in provider_side}
    found: list[Mismatch] = []
    for key in sorted(ours.keys() | theirs.keys()):
        mine, other = ours.get(key), theirs.get(key)
        if mine is not None and other is not None:
            if (mine.amount, mine.fee, mine.currency) == (other.amount, other.fee, other.currency):
                continue
            problem = "amount_differs"
        else:
            problem = "missing_in_ledger" if mine is None else "missing_at_provider"
        any_side = mine or other
        assert any_side is not None
        found.append(
            Mismatch(
                kind=key[0],
                provider_object_id=key[1],
                problem=problem,
                currency=any_side.currency,
                ledger_amount=mine.amount if mine else None,
                provider_amount=other.amount if other else None,
                ledger_fee=mine.fee if mine else None,
                provider_fee=other.fee if other else None,
                reference=mine.reference if mine else None,
            )
        )
    return found


async def ledger_entries(
    session: AsyncSession, provider: str, start: datetime, end: datetime
) -> list[Entry]:
    movements = await repo.movements(session, provider, start, end)
    entries: list[Entry] = []
    for kind, rule in KINDS.items():
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        currencies: dict[str, str] = {}
        for movement in movements:
            reference = rule.reference(movement)
            if reference is None:
                continue
            # Clearing moves by the amount net of the fee: the provider books them apart.
            totals[reference][0] += movement.clearing + movement.fee
            totals[reference][1] += movement.fee
            currencies[reference] = movement.currency
        ids = await rule.provider_ids(session, list(totals)) if totals else {}
        for reference, (amount, fee) in totals.items():
            source = ids.get(reference)
            if source is None:
                # Ours, and the provider never told us its id: nothing to match it with.
                source = f"unknown:{reference}"
            entries.append(Entry(kind, source, amount, fee, currencies[reference], reference))
    return entries


def provider_entries(records: Sequence[ProviderRecord]) -> list[Entry]:
    entries = []
    for record in records:
        if record.kind not in KINDS:
            # A kind this ledger does not book (a provider's own fees or top-ups).
            logger.info("provider record of an unreconciled kind", extra={"kind": record.kind})
            continue
        entries.append(
            Entry(record.kind, record.source_id, record.amount, record.fee, record.currency.upper())
        )
    return entries


# --- runs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunView:
    id: str
    provider: str
    period_start: datetime
    period_end: datetime
    status: str
    ledger_records: int
    provider_records: int
    mismatch_count: int
    created_at: datetime
    finished_at: datetime | None
    mismatches: tuple[ReconciliationMismatch, ...] = ()


def _run_view(run: ReconciliationRun, mismatches: Sequence[ReconciliationMismatch] = ()) -> RunView:
    return RunView(
        id=run.id,
        provider=run.provider,
        period_start=run.period_start,
        period_end=run.period_end,
        status=run.status,
        ledger_records=run.ledger_records,
        provider_records=run.provider_records,
        mismatch_count=run.mismatch_count,
        created_at=run.created_at,
        finished_at=run.finished_at,
        mismatches=tuple(mismatches),
    )


async def _new_run(
    uow: UnitOfWork,
    *,
    provider: str,
    start: datetime,
    end: datetime,
    requested_by: str | None,
    dedupe_key: str | None,
) -> str | None:
    run_id = new_id("rec")
    inserted = await repo.insert_run(
        uow.session,
        {
            "id": run_id,
            "provider": provider,
            "period_start": start,
            "period_end": end,
            "status": "pending",
            "ledger_records": 0,
            "provider_records": 0,
            "mismatch_count": 0,
            "dedupe_key": dedupe_key,
            "requested_by": requested_by,
            "created_at": utcnow(),
            "finished_at": None,
        },
    )
    if not inserted:
        return None
    uow.enqueue(RECONCILE_JOB, {"run_id": run_id})
    return run_id


async def request_run(
    uow: UnitOfWork,
    gateways: Gateways,
    *,
    provider: str,
    start: datetime,
    end: datetime,
    requested_by: str,
) -> RunView:
    """A pending run, executed by the job. 422 naming the field: a provider not enabled
    (`body.provider`), `to` not after `from` or a period longer than 31 days (`body.to`)."""
    if gateways.get(provider) is None:
        raise ValidationFailed.on_field(
            ["body", "provider"],
            f"payment provider {provider!r} is not enabled; enabled: {', '.join(gateways.enabled)}",
            "provider_not_enabled",
        )
    if end <= start:
        raise ValidationFailed.on_field(["body", "to"], "must be after from")
    if end - start > MAX_PERIOD:
        raise ValidationFailed.on_field(["body", "to"], "a period is at most 31 days")
    run_id = await _new_run(
        uow, provider=provider, start=start, end=end, requested_by=requested_by, dedupe_key=None
    )
    assert run_id is not None
    return await get_run(uow, run_id)


async def schedule_daily_runs(uow: UnitOfWork, gateways: Gateways, *, now: datetime) -> list[str]:
    """Yesterday (UTC) for every enabled provider, once per provider and day."""
    day_end = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    day_start = day_end - timedelta(days=1)
    created = []
    for provider in gateways.enabled:
        run_id = await _new_run(
            uow,
            provider=provider,
            start=day_start,
            end=day_end,
            requested_by=None,
            dedupe_key=f"daily:{provider}:{day_start.date().isoformat()}",
        )
        if run_id is not None:
            created.append(run_id)
    return created


async def execute_run(uow: UnitOfWork, gateways: Gateways, *, run_id: str) -> None:
    """The job: list the provider's records (no transaction open), read the ledger's side,
    store the mismatches and finish the run once (committed by the job runner)."""
    run = await repo.run(uow.session, run_id)
    if run is None or run.status != "pending":
        return
    provider, start, end = run.provider, run.period_start, run.period_end
    adapter = gateways.get(provider)
    await uow.commit()
    if adapter is None:
        await repo.finish_run(
            uow.session,
            run_id,
            status="failed",
            ledger_records=0,
            provider_records=0,
            mismatch_count=0,
            now=utcnow(),
        )
        return
    try:
        records = await adapter.list_records(start=start, end=end)  # ProviderUnavailable: retried
    except ProviderError as exc:
        # Retrying would change nothing: the run fails, the reason goes to the log.
        logger.error(
            "reconciliation run failed: the provider cannot list its records",
            extra={"run_id": run_id, "provider": provider, "error": str(exc)},
        )
        await repo.finish_run(
            uow.session,
            run_id,
            status="failed",
            ledger_records=0,
            provider_records=0,
            mismatch_count=0,
            now=utcnow(),
        )
        return
    theirs = provider_entries(records)
    ours = await ledger_entries(uow.session, provider, start, end)
    found = compare(ours, theirs)
    if not await repo.finish_run(
        uow.session,
        run_id,
        status="completed",
        ledger_records=len(ours),
        provider_records=len(theirs),
        mismatch_count=len(found),
        now=utcnow(),
    ):
        return  # another execution finished it
    uow.session.add_all(
        ReconciliationMismatch(
            id=new_id("rcm"),
            run_id=run_id,
            kind=m.kind,
            provider_object_id=m.provider_object_id,
            problem=m.problem,
            currency=m.currency,
            ledger_amount=m.ledger_amount,
            provider_amount=m.provider_amount,
            ledger_fee=m.ledger_fee,
            provider_fee=m.provider_fee,
            reference=m.reference,
        )
        for m in found
    )
    if found:
        logger.warning(
            "reconciliation found mismatches",
            extra={"run_id": run_id, "provider": provider, "count": len(found)},
        )
        uow.publish(
            ReconciliationMismatchFound(run_id=run_id, provider=provider, mismatch_count=len(found))
        )


async def get_run(uow: UnitOfWork, run_id: str) -> RunView:
    run = await repo.run(uow.session, run_id)
    if run is None:
        raise ReconciliationRunNotFound(f"no reconciliation run {run_id}")
    return _run_view(run, await repo.mismatches(uow.session, run_id))


async def list_runs(uow: UnitOfWork, page: PageParams) -> tuple[list[RunView], str | None]:
    runs, cursor = await repo.runs(uow.session, page)
    return [_run_view(r) for r in runs], cursor


__all__ = [
    "KINDS",
    "RECONCILE_INTERVAL",
    "RECONCILE_JOB",
    "Entry",
    "KindRule",
    "Mismatch",
    "RunView",
    "compare",
    "execute_run",
    "get_run",
    "ledger_entries",
    "list_runs",
    "request_run",
    "schedule_daily_runs",
]
