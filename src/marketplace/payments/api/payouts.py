"""Payout routes: a vendor's schedule and payouts (`payouts.read` / `payouts.manage`), the
admin's runs, and the vendors whose available balance is negative."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from marketplace.identity.public import AdminReader, AdminWriter, VendorAccess, vendor_permission
from marketplace.payments.public import GatewaysDep
from marketplace.payments.schemas.payouts import (
    NegativeBalanceRead,
    PayoutCreate,
    PayoutRead,
    PayoutRunIn,
    PayoutRunRead,
    PayoutScheduleIn,
    PayoutScheduleRead,
    skipped,
)
from marketplace.payments.service import payout_schedules, payouts
from marketplace.payments.service.payout_schedules import RunView, ScheduleView
from marketplace.payments.service.payouts import PayoutView, payout_view
from marketplace.platform.http import IdempotencyKeyRequired, UoW
from marketplace.platform.money import Money, MoneySchema
from marketplace.platform.pagination import Page, PageQuery

router = APIRouter(tags=["payouts"])

PayoutsReader = Annotated[VendorAccess, Depends(vendor_permission("payouts.read"))]
PayoutsManager = Annotated[VendorAccess, Depends(vendor_permission("payouts.manage"))]


def _payout(view: PayoutView) -> PayoutRead:
    return PayoutRead(
        id=view.id,
        vendor_id=view.vendor_id,
        amount=MoneySchema(amount=view.amount, currency=view.currency),
        status=view.status,
        method=view.method,
        run_id=view.run_id,
        destination=view.destination,
        provider=view.provider,
        provider_transfer_id=view.provider_transfer_id,
        failure_code=view.failure_code,
        failure_message=view.failure_message,
        created_at=view.created_at,
        sent_at=view.sent_at,
        paid_at=view.paid_at,
        failed_at=view.failed_at,
    )


def _schedule(view: ScheduleView) -> PayoutScheduleRead:
    return PayoutScheduleRead(
        vendor_id=view.vendor_id,
        interval=view.interval,
        weekly_anchor=view.weekly_anchor,
        monthly_anchor=view.monthly_anchor,
        minimum=MoneySchema.from_money(view.minimum),
        next_run_at=view.next_run_at,
        updated_at=view.updated_at,
    )


def _run(view: RunView) -> PayoutRunRead:
    return PayoutRunRead(
        id=view.id,
        trigger=view.trigger,
        actor_id=view.actor_id,
        vendor_id=view.vendor_id,
        payout_count=view.payout_count,
        skipped=skipped(view.skipped),
        started_at=view.started_at,
        finished_at=view.finished_at,
        payouts=[_payout(payout_view(p)) for p in view.payouts],
    )


@router.get("/vendors/{vid}/payout-schedule", summary="When the vendor is paid out")
async def get_payout_schedule(uow: UoW, access: PayoutsReader) -> PayoutScheduleRead:
    return _schedule(await payout_schedules.get_schedule(uow, access.vendor_id))


@router.put(
    "/vendors/{vid}/payout-schedule",
    summary="Choose how often the available balance is paid out",
    responses={422: {"description": "invalid interval, anchor or minimum"}},
)
async def put_payout_schedule(
    body: PayoutScheduleIn, uow: UoW, access: PayoutsManager
) -> PayoutScheduleRead:
    view = await payout_schedules.set_schedule(
        uow,
        vendor_id=access.vendor_id,
        interval=body.interval,
        minimum=body.minimum.to_money(),
        weekly_anchor=body.weekly_anchor,
        monthly_anchor=body.monthly_anchor,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
    )
    return _schedule(view)


@router.get("/vendors/{vid}/payouts", summary="The vendor's payouts, newest first")
async def list_payouts(uow: UoW, access: PayoutsReader, page: PageQuery) -> Page[PayoutRead]:
    items, cursor = await payouts.list_payouts(uow, access.vendor_id, page)
    return Page(data=[_payout(v) for v in items], next_cursor=cursor)


@router.get("/vendors/{vid}/payouts/{payout_id}", summary="One payout")
async def get_payout(
    uow: UoW,
    access: PayoutsReader,
    payout_id: Annotated[str, Path(max_length=40)],
) -> PayoutRead:
    return _payout(await payouts.get_payout(uow, access.vendor_id, payout_id))


@router.post(
    "/vendors/{vid}/payouts",
    status_code=201,
    summary="Request a payout of the available balance (Idempotency-Key required)",
    responses={
        409: {
            "description": "payout_vendor_not_approved, payout_kyc_required, "
            "payout_account_required, payout_nothing_available"
        },
        422: {"description": "payout_exceeds_available (body.amount.amount)"},
    },
)
async def request_payout(
    body: PayoutCreate,
    uow: UoW,
    access: PayoutsManager,
    key: IdempotencyKeyRequired,
    gateways: GatewaysDep,
) -> PayoutRead:
    amount: Money | None = body.amount.to_money() if body.amount is not None else None
    view = await payouts.request_payout(
        uow,
        gateways,
        vendor_id=access.vendor_id,
        amount=amount,
        idempotency_key=key,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
    )
    return _payout(view)


@router.post(
    "/admin/payouts/run", summary="Run due payouts now (or one vendor's, whatever its schedule)"
)
async def run_payouts(
    uow: UoW, admin: AdminWriter, gateways: GatewaysDep, body: PayoutRunIn | None = None
) -> PayoutRunRead:
    view = await payout_schedules.run_payouts(
        uow,
        gateways,
        trigger="admin",
        actor_id=admin.id,
        actor_role=admin.actor_role,
        vendor_id=body.vendor_id if body is not None else None,
    )
    assert view is not None  # an admin's run is always recorded
    return _run(view)


@router.get("/admin/payout-runs", summary="Payout runs with their payouts, newest first")
async def list_runs(uow: UoW, admin: AdminReader, page: PageQuery) -> Page[PayoutRunRead]:
    items, cursor = await payout_schedules.list_runs(uow, page)
    return Page(data=[_run(v) for v in items], next_cursor=cursor)


@router.get("/admin/payout-runs/{run_id}", summary="One payout run with its payouts")
async def get_run(
    uow: UoW, admin: AdminReader, run_id: Annotated[str, Path(max_length=40)]
) -> PayoutRunRead:
    return _run(await payout_schedules.get_run(uow, run_id))


@router.get(
    "/admin/ledger/negative-balances",
    summary="Vendors in the red: available balances below zero",
)
async def negative_balances(
    uow: UoW, admin: AdminReader, page: PageQuery
) -> Page[NegativeBalanceRead]:
    items, cursor = await payouts.negative_balances(uow, page)
    return Page(
        data=[
            NegativeBalanceRead(vendor_id=n.vendor_id, currency=n.currency, amount=n.amount)
            for n in items
        ],
        next_cursor=cursor,
    )
