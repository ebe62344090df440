"""Payout schedules and runs: a vendor's schedule (interval, anchor, minimum), the periodic
run that pays every vendor whose schedule is due, and the admin's run on demand.

A run claims each due schedule by moving its date forward with a conditional UPDATE (so two
schedulers never pay one period twice), then pays every currency of the vendor whose
available balance is positive and reaches the minimum (the minimum is in one currency; other
currencies need only be positive). A vendor that cannot be paid (KYC, no account, nothing
available) is listed in the run's `skipped`, with the reason. Scheduled payouts are keyed by
the period they pay (`schedule:<vendor>:<due date>:<currency>`), so the same period can never
produce a second payout. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from marketplace.compliance.public import record_audit
from marketplace.payments.domain import payout as rules
from marketplace.payments.domain.ledger import vendor_available
from marketplace.payments.errors import PayoutRunNotFound
from marketplace.payments.models import Payout, PayoutRun, PayoutSchedule
from marketplace.payments.providers import Gateways
from marketplace.payments.repository import payout as repo
from marketplace.payments.service.payouts import Payee, create_payout, payee
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import FieldError, NotFound, ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.money import Money
from marketplace.platform.pagination import PageParams
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

RUN_BATCH: Final = 100


@dataclass(frozen=True, slots=True)
class ScheduleView:
    vendor_id: str
    interval: str
    weekly_anchor: str
    monthly_anchor: int
    minimum: Money
    next_run_at: datetime | None
    updated_at: datetime | None


def _view(row: PayoutSchedule) -> ScheduleView:
    return ScheduleView(
        vendor_id=row.vendor_id,
        interval=row.interval,
        weekly_anchor=row.weekly_anchor,
        monthly_anchor=row.monthly_anchor,
        minimum=Money(row.minimum_amount, row.minimum_currency),
        next_run_at=row.next_run_at,
        updated_at=row.updated_at,
    )


async def get_schedule(uow: UnitOfWork, vendor_id: str) -> ScheduleView:
    """The vendor's schedule; until it chose one, manual with no minimum in its currency."""
    row = await repo.schedule(uow.session, vendor_id)
    if row is not None:
        return _view(row)
    info = await vendors.vendor_info(uow, vendor_id)
    if info is None:
        raise NotFound("vendor not found", code="vendor_not_found")
    return ScheduleView(
        vendor_id=vendor_id,
        interval=rules.DEFAULT_INTERVAL,
        weekly_anchor=rules.DEFAULT_WEEKLY_ANCHOR,
        monthly_anchor=rules.DEFAULT_MONTHLY_ANCHOR,
        minimum=Money(0, info.default_currency),
        next_run_at=None,
        updated_at=None,
    )


async def set_schedule(
    uow: UnitOfWork,
    *,
    vendor_id: str,
    interval: rules.Interval,
    minimum: Money,
    weekly_anchor: rules.Weekday = rules.DEFAULT_WEEKLY_ANCHOR,
    monthly_anchor: int = rules.DEFAULT_MONTHLY_ANCHOR,
    actor_id: str,
    actor_role: str,
    now: datetime | None = None,
) -> ScheduleView:
    """Replace the vendor's schedule; the next due date is the first period start after now.
    422 naming the field for a negative minimum or an anchor out of range."""
    errors: list[FieldError] = []
    if minimum.amount < 0:
        errors.append(
            FieldError(
                loc=["body", "minimum", "amount"], msg="must not be negative", code="invalid"
            )
        )
    if not 1 <= monthly_anchor <= 31:
        errors.append(
            FieldError(loc=["body", "monthly_anchor"], msg="must be 1 to 31", code="invalid")
        )
    if errors:
        raise ValidationFailed(errors[0].msg, errors=errors)
    now = now or utcnow()
    schedule = rules.Schedule(interval, weekly_anchor, monthly_anchor)
    row = await repo.schedule_for_update(uow.session, vendor_id)
    before: dict[str, Any] | None = None
    if row is None:
        if await vendors.vendor_info(uow, vendor_id) is None:
            raise NotFound("vendor not found", code="vendor_not_found")
        row = PayoutSchedule(vendor_id=vendor_id, created_at=now)
        uow.session.add(row)
    else:
        before = _audited(row)
    row.interval = interval
    row.weekly_anchor = weekly_anchor
    row.monthly_anchor = monthly_anchor
    row.minimum_amount = minimum.amount
    row.minimum_currency = minimum.currency
    row.next_run_at = rules.next_due(schedule, now)
    row.updated_by = actor_id
    row.updated_at = now
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="payout_schedule.updated",
        resource_type="vendor",
        resource_id=vendor_id,
        before=before,
        after=_audited(row),
    )
    return _view(row)


def _audited(row: PayoutSchedule) -> dict[str, Any]:
    return {
        "interval": row.interval,
        "weekly_anchor": row.weekly_anchor,
        "monthly_anchor": row.monthly_anchor,
        "minimum": f"{row.minimum_amount} {row.minimum_currency}",
    }


# --- runs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunView:
    id: str
    trigger: str
    actor_id: str | None
    vendor_id: str | None
    payout_count: int
    skipped: list[dict[str, Any]]
    started_at: datetime
    finished_at: datetime
    payouts: list[Payout]
    vendor_count: int = 0  # vendors this run considered (a full batch means more may be due)


async def _pay_vendor(
    uow: UnitOfWork,
    gateways: Gateways,
    run: PayoutRun,
    *,
    vendor_id: str,
    key_prefix: str,
    schedule: PayoutSchedule | None,
    method: str,
    requested_by: str,
    skipped: list[dict[str, Any]],
) -> list[Payout]:
    who = await payee(uow, gateways, vendor_id)
    if not isinstance(who, Payee):
        skipped.append({"vendor_id": vendor_id, "currency": None, "reason": who})
        return []
    made: list[Payout] = []
    sums = await repo.account_sums(uow.session, vendor_available(vendor_id))
    currencies = sorted(c for c, total in sums.items() if total < 0) or [who.default_currency]
    for currency in currencies:
        minimum = 0
        if schedule is not None and schedule.minimum_currency == currency:
            minimum = schedule.minimum_amount
        payout, _available, refusal = await create_payout(
            uow,
            gateways,
            payee=who,
            currency=currency,
            requested=None,
            idempotency_key=f"{key_prefix}:{currency}",
            method=method,
            requested_by=requested_by,
            run_id=run.id,
            minimum=minimum,
        )
        if payout is not None:
            made.append(payout)
        else:
            skipped.append({"vendor_id": vendor_id, "currency": currency, "reason": refusal})
    return made


async def run_payouts(
    uow: UnitOfWork,
    gateways: Gateways,
    *,
    trigger: str,
    actor_id: str | None = None,
    actor_role: str | None = None,
    vendor_id: str | None = None,
    now: datetime | None = None,
) -> RunView | None:
    """Pay the vendors whose schedule is due (at most `RUN_BATCH`), or with `vendor_id` that
    vendor now, whatever its schedule. None when a scheduled run found nobody due (no run
    is recorded for an idle minute); an admin's run is always recorded."""
    now = now or utcnow()
    targets: list[tuple[str, str, PayoutSchedule | None]] = []
    if vendor_id is None:
        for schedule in await repo.due_schedules(uow.session, now, RUN_BATCH):
            due = schedule.next_run_at
            assert due is not None
            following = rules.next_due(
                rules.Schedule(
                    schedule.interval,  # type: ignore[arg-type]
                    schedule.weekly_anchor,  # type: ignore[arg-type]
                    schedule.monthly_anchor,
                ),
                now,
            )
            if await repo.claim_schedule(
                uow.session, schedule.vendor_id, due=due, following=following
            ):
                key = f"schedule:{schedule.vendor_id}:{due.isoformat()}"
                targets.append((schedule.vendor_id, key, schedule))
        if not targets and trigger == "schedule":
            return None
    run = PayoutRun(
        id=new_id("prun"),
        trigger=trigger,
        actor_id=actor_id,
        vendor_id=vendor_id,
        payout_count=0,
        skipped=[],
        started_at=now,
        finished_at=now,
    )
    uow.session.add(run)
    await uow.session.flush()
    if vendor_id is not None:
        schedule_row = await repo.schedule(uow.session, vendor_id)
        targets.append((vendor_id, f"run:{run.id}", schedule_row))
    method = "scheduled" if trigger == "schedule" else "admin"
    skipped: list[dict[str, Any]] = []
    payouts: list[Payout] = []
    for target, key_prefix, schedule_row in targets:
        payouts += await _pay_vendor(
            uow,
            gateways,
            run,
            vendor_id=target,
            key_prefix=key_prefix,
            schedule=schedule_row,
            method=method,
            requested_by=actor_id or "scheduler",
            skipped=skipped,
        )
    run.payout_count = len(payouts)
    run.skipped = skipped
    run.finished_at = utcnow()
    await uow.session.flush()
    if trigger == "admin" and actor_id is not None:
        record_audit(
            uow,
            actor_id=actor_id,
            actor_role=actor_role or "admin",
            action="payout_run.started",
            resource_type="payout_run",
            resource_id=run.id,
            after={"vendor_id": vendor_id, "payout_count": run.payout_count},
        )
    return _run_view(run, payouts, vendor_count=len(targets))


def _run_view(run: PayoutRun, payouts: list[Payout], *, vendor_count: int = 0) -> RunView:
    return RunView(
        id=run.id,
        trigger=run.trigger,
        actor_id=run.actor_id,
        vendor_id=run.vendor_id,
        payout_count=run.payout_count,
        skipped=list(run.skipped),
        started_at=run.started_at,
        finished_at=run.finished_at,
        payouts=payouts,
        vendor_count=vendor_count,
    )


async def get_run(uow: UnitOfWork, run_id: str) -> RunView:
    run = await repo.run(uow.session, run_id)
    if run is None:
        raise PayoutRunNotFound(f"no payout run {run_id}")
    return _run_view(run, await repo.payouts_of_runs(uow.session, [run.id]))


async def list_runs(uow: UnitOfWork, page: PageParams) -> tuple[list[RunView], str | None]:
    runs, cursor = await repo.runs(uow.session, page)
    payouts = await repo.payouts_of_runs(uow.session, [r.id for r in runs])
    by_run: dict[str, list[Payout]] = {}
    for p in payouts:
        by_run.setdefault(p.run_id or "", []).append(p)
    return [_run_view(r, by_run.get(r.id, [])) for r in runs], cursor


__all__ = [
    "RUN_BATCH",
    "RunView",
    "ScheduleView",
    "get_run",
    "get_schedule",
    "list_runs",
    "run_payouts",
    "set_schedule",
]
