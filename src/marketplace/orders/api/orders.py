"""Customer order routes (checkout, history, cancel, returns, timeline) and the admin's view
and cancellation. Tracking of the parcels is the shipping context's (`GET .../tracking`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from marketplace.identity.public import AdminReader, AdminWriter, CurrentUser, Principal
from marketplace.orders.api.views import order_read, order_view
from marketplace.orders.errors import OrderNotFound, PaymentDeclined, SoldOut
from marketplace.orders.models.order import Order, ReturnRequest
from marketplace.orders.repository import order as repo
from marketplace.orders.schemas.order import (
    CancelIn,
    OrderCreate,
    OrderRead,
    OrderSummary,
    ReturnIn,
    ReturnRead,
    TimelineRead,
    VendorCancelIn,
)
from marketplace.orders.service import checkout, fulfilment, returns
from marketplace.orders.service.fulfilment import Actor
from marketplace.payments import public as payments
from marketplace.platform.http import IdempotencyKeyRequired, UoW
from marketplace.platform.money import MoneySchema
from marketplace.platform.pagination import Page, PageQuery, SortKey, paginate

router = APIRouter(tags=["orders"])

STAFF_ROLES = ("admin", "support")


async def tax_rates(request: Request) -> Mapping[str, int]:
    rates: Mapping[str, int] = request.app.state.container.settings.tax_rates
    return rates


TaxRates = Annotated[Mapping[str, int], Depends(tax_rates)]


async def _visible_order(uow: UoW, order_id: str, principal: Principal) -> Order:
    """The caller's own order, or any order for platform staff; 404 otherwise."""
    order = await repo.order(uow.session, order_id)
    if order is None or (
        order.customer_id != principal.id and principal.platform_role not in STAFF_ROLES
    ):
        raise OrderNotFound()
    return order


def return_read(request: ReturnRequest) -> ReturnRead:
    return ReturnRead(
        id=request.id,
        order_id=request.order_id,
        vendor_order_id=request.vendor_order_id,
        status=request.status,
        reason=request.reason,
        description=request.description,
        items=list(request.items),
        refund=MoneySchema(amount=request.refund_amount, currency=request.currency),
        restock=request.restock,
        decision_note=request.decision_note,
        created_at=request.created_at,
        decided_at=request.decided_at,
    )


@router.post(
    "/orders",
    status_code=201,
    summary="Check out: one order, split per vendor, paid",
    responses={
        402: {"description": "the payment was declined: the order is canceled, stock released"},
        409: {
            "description": "not enough stock (nothing reserved), or sold out while the payment "
            "was confirmed (the order is canceled and refunded)"
        },
    },
)
async def place_order(
    body: OrderCreate,
    uow: UoW,
    customer: CurrentUser,
    key: IdempotencyKeyRequired,
    gateways: payments.GatewaysDep,
    rates: TaxRates,
    request: Request,
) -> OrderRead:
    order_id = await checkout.place_order(
        uow,
        gateways,
        customer=customer,
        request=checkout.Checkout(
            cart_id=body.cart_id,
            items=[checkout.CheckoutItem(i.variant_id, i.quantity) for i in body.items],
            shipping_address=body.shipping_address.model_dump(exclude_none=True),
            shipping_options=body.shipping_options,
            coupon_codes=body.coupon_codes,
            currency=body.currency,
            provider=body.payment.provider,
            payment_method=body.payment.payment_method,
            language=request.headers.get("accept-language", "")[:16] or None,
            tax_rates=rates,
        ),
        checkout_key=key,
    )
    settled = checkout.settled_order(uow, order_id)
    if settled is not None:
        # Paid by this request: answer from the rows it has, without reading them again.
        return order_view(settled.order, settled.vendor_orders, settled.items, [])
    order = await repo.order(uow.session, order_id)
    assert order is not None
    if order.status == "canceled" and order.failure_code == "sold_out":
        raise SoldOut(
            order.failure_message or "sold out while paying",
            extra={"order_id": order.id},
        )
    if order.status == "canceled" and order.payment_status != "succeeded":
        raise PaymentDeclined(
            order.failure_message or "the payment was declined",
            extra={"order_id": order.id, "decline_code": order.failure_code},
        )
    return await order_read(uow.session, order)


@router.get("/orders", summary="The customer's orders, newest first")
async def list_orders(uow: UoW, customer: CurrentUser, page: PageQuery) -> Page[OrderSummary]:
    orders, cursor = await paginate(
        uow.session,
        repo.customer_orders(customer.id),
        keys=[SortKey(Order.placed_at, descending=True), SortKey(Order.id, descending=True)],
        params=page,
        cursor_of=lambda o: (o.placed_at, o.id),
    )
    counts: dict[str, int] = {}
    for v in await repo.vendor_orders_of(uow.session, [o.id for o in orders]):
        counts[v.order_id] = counts.get(v.order_id, 0) + 1
    return Page(
        data=[
            OrderSummary(
                id=o.id,
                status=o.status,
                total=MoneySchema(amount=o.total_amount, currency=o.currency),
                vendor_count=counts.get(o.id, 0),
                placed_at=o.placed_at,
            )
            for o in orders
        ],
        next_cursor=cursor,
    )


@router.get("/orders/{oid}", summary="An order with every vendor's part")
async def get_order(oid: str, uow: UoW, principal: CurrentUser) -> OrderRead:
    return await order_read(uow.session, await _visible_order(uow, oid, principal))


@router.get("/orders/{oid}/timeline", summary="Every change of the order: who, when, why")
async def order_timeline(oid: str, uow: UoW, principal: CurrentUser) -> list[TimelineRead]:
    order = await _visible_order(uow, oid, principal)
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
        for e in await repo.timeline(uow.session, order.id)
    ]


@router.post(
    "/orders/{oid}/cancel",
    summary="Cancel the order (or one vendor's part) before it ships; refunds automatically",
)
async def cancel_order(oid: str, body: CancelIn, uow: UoW, customer: CurrentUser) -> OrderRead:
    await fulfilment.cancel_order(
        uow,
        order_id=oid,
        customer_id=customer.id,
        actor=Actor(customer.id, "customer", "customer"),
        vendor_order_id=body.vendor_order_id,
        reason=body.reason,
    )
    return await get_order(oid, uow, customer)


@router.post("/orders/{oid}/returns", status_code=201, summary="Ask to return delivered items")
async def request_return(oid: str, body: ReturnIn, uow: UoW, customer: CurrentUser) -> ReturnRead:
    made = await returns.request_return(
        uow,
        order_id=oid,
        customer_id=customer.id,
        items=[(i.order_item_id, i.quantity) for i in body.items],
        reason=body.reason,
        description=body.description,
    )
    return return_read(made)


@router.get("/admin/orders/{oid}", summary="Any order, for platform staff")
async def admin_get_order(oid: str, uow: UoW, staff: AdminReader) -> JSONResponse:
    order = await _visible_order(uow, oid, staff)
    read = await order_read(uow.session, order)
    return JSONResponse(read.model_dump(mode="json") | {"customer_id": order.customer_id})


@router.post("/admin/orders/{oid}/cancel", summary="Cancel an order as an admin; refunds")
async def admin_cancel_order(
    oid: str, body: VendorCancelIn, uow: UoW, admin: AdminWriter
) -> OrderRead:
    await fulfilment.cancel_order(
        uow,
        order_id=oid,
        customer_id=None,
        actor=Actor(admin.id, "admin", admin.platform_role or "admin"),
        reason=body.reason,
    )
    order = await repo.order(uow.session, oid)
    assert order is not None
    return await order_read(uow.session, order)
