"""A vendor's side of orders: its vendor orders (never other vendors' parts of the same
checkout), fulfilment (ship, deliver), cancellation, refunds and return decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from marketplace.identity.public import VendorAccess, vendor_permission
from marketplace.orders.api.orders import return_read
from marketplace.orders.api.views import vendor_views
from marketplace.orders.domain.status import VENDOR_ORDER_STATUSES
from marketplace.orders.errors import VendorOrderNotFound
from marketplace.orders.models.order import ReturnRequest, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.orders.schemas.order import (
    RefundIn,
    RefundRead,
    ReturnDecisionIn,
    ReturnRead,
    ShipIn,
    TimelineRead,
    VendorCancelIn,
    VendorViewRead,
)
from marketplace.orders.service import fulfilment, returns
from marketplace.orders.service.fulfilment import Actor, ShipItem
from marketplace.platform.http import IdempotencyKeyRequired, UoW
from marketplace.platform.money import MoneySchema
from marketplace.platform.pagination import Page, PageQuery, SortKey, paginate

router = APIRouter(tags=["vendor orders"])

OrderReader = Annotated[VendorAccess, Depends(vendor_permission("orders.read"))]
Fulfiller = Annotated[VendorAccess, Depends(vendor_permission("orders.fulfil"))]
Refunder = Annotated[VendorAccess, Depends(vendor_permission("refunds.issue"))]

BASE = "/vendors/{vid}/orders"
STATUS_PATTERN = "^(" + "|".join(VENDOR_ORDER_STATUSES) + ")$"


def _actor(access: VendorAccess) -> Actor:
    role = "admin" if access.principal.platform_role == "admin" else "vendor"
    return Actor(access.principal.id, role, access.actor_role)  # type: ignore[arg-type]


async def _one(uow: UoW, access: VendorAccess, void: str) -> VendorViewRead:
    found = await repo.vendor_order(uow.session, void, vendor_id=access.vendor_id)
    if found is None:
        raise VendorOrderNotFound()
    return (await vendor_views(uow.session, [found]))[0]


@router.get(BASE, summary="The vendor's orders, newest first, by status and date")
async def list_vendor_orders(
    uow: UoW,
    access: OrderReader,
    page: PageQuery,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    placed_from: Annotated[datetime | None, Query(description="inclusive")] = None,
    placed_to: Annotated[datetime | None, Query(description="exclusive")] = None,
) -> Page[VendorViewRead]:
    rows, cursor = await paginate(
        uow.session,
        repo.vendor_orders_for_vendor(
            access.vendor_id, status=status, placed_from=placed_from, placed_to=placed_to
        ),
        keys=[
            SortKey(VendorOrder.placed_at, descending=True),
            SortKey(VendorOrder.id, descending=True),
        ],
        params=page,
        cursor_of=lambda v: (v.placed_at, v.id),
    )
    return Page(data=await vendor_views(uow.session, rows), next_cursor=cursor)


@router.get(BASE + "/{void}", summary="One of the vendor's orders")
async def get_vendor_order(void: str, uow: UoW, access: OrderReader) -> VendorViewRead:
    return await _one(uow, access, void)


@router.get(BASE + "/{void}/timeline", summary="The changes of the vendor's part")
async def vendor_order_timeline(void: str, uow: UoW, access: OrderReader) -> list[TimelineRead]:
    found = await repo.vendor_order(uow.session, void, vendor_id=access.vendor_id)
    if found is None:
        raise VendorOrderNotFound()
    return [
        TimelineRead(
            at=e.created_at,
            kind=e.kind,
            vendor_order_id=e.vendor_order_id,
            from_status=e.from_status,
            to_status=e.to_status,
            actor_role=e.actor_role,
            note=e.note,
        )
        for e in await repo.timeline(uow.session, found.order_id, vendor_order_id=found.id)
    ]


@router.post(BASE + "/{void}/ship", summary="Ship all or some items, with carrier and tracking")
async def ship(void: str, body: ShipIn, uow: UoW, access: Fulfiller) -> VendorViewRead:
    await fulfilment.ship(
        uow,
        vendor_order_id=void,
        vendor_id=access.vendor_id,
        actor=_actor(access),
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        items=None
        if body.items is None
        else [ShipItem(i.order_item_id, i.quantity) for i in body.items],
    )
    return await _one(uow, access, void)


@router.post(BASE + "/{void}/deliver", summary="Mark delivered")
async def deliver(void: str, uow: UoW, access: Fulfiller) -> VendorViewRead:
    await fulfilment.deliver(
        uow, vendor_order_id=void, vendor_id=access.vendor_id, actor=_actor(access)
    )
    return await _one(uow, access, void)


@router.post(BASE + "/{void}/cancel", summary="Cancel before shipping, with the reason; refunds")
async def cancel(void: str, body: VendorCancelIn, uow: UoW, access: Fulfiller) -> VendorViewRead:
    vendor_order = await fulfilment.locked_vendor_order(uow, void, vendor_id=access.vendor_id)
    await fulfilment.cancel_vendor_order(
        uow,
        vendor_order=vendor_order,
        actor=_actor(access),
        reason=body.reason,
        refund_key=f"cancel:{void}",
    )
    return await _one(uow, access, void)


@router.post(
    BASE + "/{void}/refunds",
    status_code=201,
    summary="Refund an amount or items of this vendor order",
)
async def refund(
    void: str, body: RefundIn, uow: UoW, access: Refunder, key: IdempotencyKeyRequired
) -> RefundRead:
    made = await fulfilment.refund(
        uow,
        vendor_order_id=void,
        vendor_id=access.vendor_id,
        actor=_actor(access),
        amount=body.amount,
        items=[(i.order_item_id, i.quantity) for i in body.items],
        reason=body.reason,
        refund_key=f"vendor:{access.vendor_id}:{key}",
    )
    return RefundRead(
        id=made.id,
        status=made.status,
        amount=MoneySchema(amount=made.amount, currency=made.currency),
        reason=body.reason,
    )


@router.get("/vendors/{vid}/returns", summary="Return requests for the vendor")
async def list_returns(
    uow: UoW,
    access: OrderReader,
    page: PageQuery,
    status: Annotated[str | None, Query(pattern="^(requested|approved|rejected)$")] = None,
) -> Page[ReturnRead]:
    rows, cursor = await paginate(
        uow.session,
        repo.vendor_returns(access.vendor_id, status=status),
        keys=[
            SortKey(ReturnRequest.created_at, descending=True),
            SortKey(ReturnRequest.id, descending=True),
        ],
        params=page,
        cursor_of=lambda r: (r.created_at, r.id),
    )
    return Page(data=[return_read(r) for r in rows], next_cursor=cursor)


@router.post("/vendors/{vid}/returns/{rid}/approve", summary="Approve: refund, maybe restock")
async def approve_return(
    rid: str, body: ReturnDecisionIn, uow: UoW, access: Refunder
) -> ReturnRead:
    decided = await returns.decide_return(
        uow,
        return_id=rid,
        vendor_id=access.vendor_id,
        actor=_actor(access),
        approve=True,
        restock=body.restock,
        amount=body.amount,
        note=body.note,
    )
    return return_read(decided)


@router.post("/vendors/{vid}/returns/{rid}/reject", summary="Reject with a note")
async def reject_return(
    rid: str, body: ReturnDecisionIn, uow: UoW, access: Fulfiller
) -> ReturnRead:
    decided = await returns.decide_return(
        uow,
        return_id=rid,
        vendor_id=access.vendor_id,
        actor=_actor(access),
        approve=False,
        note=body.note,
    )
    return return_read(decided)
