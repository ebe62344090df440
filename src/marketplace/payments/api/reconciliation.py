"""Admin routes for reconciliation: ask for a run over a period (executed by the job
`payments.reconcile`), list runs, and read one with its mismatches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from marketplace.identity.public import AdminReader, AdminWriter
from marketplace.payments.public import GatewaysDep
from marketplace.payments.schemas.chargebacks import (
    MismatchRead,
    ReconciliationRunCreate,
    ReconciliationRunDetail,
    ReconciliationRunRead,
)
from marketplace.payments.service import reconciliation
from marketplace.payments.service.reconciliation import RunView
from marketplace.platform.http import UoW
from marketplace.platform.pagination import Page, PageQuery

router = APIRouter(tags=["payments"])


def _read(view: RunView) -> ReconciliationRunRead:
    return ReconciliationRunRead(
        id=view.id,
        provider=view.provider,
        period_start=view.period_start,
        period_end=view.period_end,
        status=view.status,
        ledger_records=view.ledger_records,
        provider_records=view.provider_records,
        mismatch_count=view.mismatch_count,
        created_at=view.created_at,
        finished_at=view.finished_at,
    )


@router.post(
    "/admin/reconciliation-runs",
    status_code=202,
    summary="Compare the ledger with a provider's records for a period (runs as a job)",
    response_model_by_alias=True,
    responses={422: {"description": "provider not enabled, or a bad period"}},
)
async def request_run(
    uow: UoW, admin: AdminWriter, gateways: GatewaysDep, body: ReconciliationRunCreate
) -> ReconciliationRunRead:
    view = await reconciliation.request_run(
        uow,
        gateways,
        provider=body.provider,
        start=body.start,
        end=body.end,
        requested_by=admin.id,
    )
    return _read(view)


@router.get("/admin/reconciliation-runs", summary="Reconciliation runs, newest first")
async def list_runs(uow: UoW, admin: AdminReader, page: PageQuery) -> Page[ReconciliationRunRead]:
    items, cursor = await reconciliation.list_runs(uow, page)
    return Page(data=[_read(v) for v in items], next_cursor=cursor)


@router.get(
    "/admin/reconciliation-runs/{run_id}",
    summary="One run with its mismatches",
    responses={404: {"description": "reconciliation_run_not_found"}},
)
async def get_run(
    uow: UoW, admin: AdminReader, run_id: Annotated[str, Path(max_length=40)]
) -> ReconciliationRunDetail:
    view = await reconciliation.get_run(uow, run_id)
    return ReconciliationRunDetail(
        **_read(view).model_dump(),
        mismatches=[
            MismatchRead(
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
            for m in view.mismatches
        ],
    )
