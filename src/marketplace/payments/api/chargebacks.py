"""Admin routes for chargebacks: the disputes providers opened on our payments, what each
charged to which vendor order, and how it ended."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from marketplace.identity.public import AdminReader
from marketplace.payments.schemas.chargebacks import ChargebackAllocationRead, ChargebackRead
from marketplace.payments.service import chargebacks
from marketplace.payments.service.chargebacks import ChargebackView
from marketplace.platform.http import UoW
from marketplace.platform.pagination import Page, PageQuery

router = APIRouter(tags=["payments"])


def _read(view: ChargebackView) -> ChargebackRead:
    return ChargebackRead(
        id=view.id,
        provider=view.provider,
        provider_dispute_id=view.provider_dispute_id,
        provider_payment_id=view.provider_payment_id,
        payment_id=view.payment_id,
        order_id=view.order_id,
        status=view.status,
        reason=view.reason,
        amount=view.amount,
        currency=view.currency,
        fee_amount=view.fee_amount,
        unallocated_amount=view.unallocated_amount,
        commission_reversed=view.commission_reversed,
        allocations=[
            ChargebackAllocationRead(
                vendor_order_id=a.vendor_order_id,
                vendor_id=a.vendor_id,
                amount=a.amount,
                from_available=a.from_available,
            )
            for a in view.allocations
        ],
        opened_at=view.opened_at,
        closed_at=view.closed_at,
    )


@router.get("/admin/chargebacks", summary="Chargebacks, newest first")
async def list_chargebacks(
    uow: UoW,
    admin: AdminReader,
    page: PageQuery,
    status: Annotated[Literal["open", "won", "lost"] | None, Query()] = None,
) -> Page[ChargebackRead]:
    items, cursor = await chargebacks.list_chargebacks(uow, status=status, page=page)
    return Page(data=[_read(v) for v in items], next_cursor=cursor)


@router.get(
    "/admin/chargebacks/{chargeback_id}",
    summary="One chargeback with its per-vendor amounts",
    responses={404: {"description": "chargeback_not_found"}},
)
async def get_chargeback(
    uow: UoW, admin: AdminReader, chargeback_id: Annotated[str, Path(max_length=40)]
) -> ChargebackRead:
    return _read(await chargebacks.get_chargeback(uow, chargeback_id))
