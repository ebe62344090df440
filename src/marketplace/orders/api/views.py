"""Building order bodies: every related table read once per page or order, never per row."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.orders.models.order import Order, OrderItem, Shipment, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.orders.schemas.order import (
    OrderItemRead,
    OrderRead,
    PaymentRead,
    ShipmentRead,
    Totals,
    VendorItemRead,
    VendorOrderRead,
    VendorViewRead,
)
from marketplace.platform.money import MoneySchema


def _m(amount: int, currency: str) -> MoneySchema:
    return MoneySchema(amount=amount, currency=currency)


def _totals(row: Order | VendorOrder) -> Totals:
    c = row.currency
    return Totals(
        subtotal=_m(row.subtotal_amount, c),
        discount=_m(row.discount_amount, c),
        shipping=_m(row.shipping_amount, c),
        tax=_m(row.tax_amount, c),
        total=_m(row.total_amount, c),
    )


def _item(item: OrderItem, currency: str) -> dict[str, object]:
    return {
        "id": item.id,
        "variant_id": item.variant_id,
        "product_id": item.product_id,
        "sku": item.sku,
        "title": item.title,
        "attributes": dict(item.attributes),
        "quantity": item.quantity,
        "unit_price": _m(item.unit_price_amount, currency),
        "subtotal": _m(item.subtotal_amount, currency),
        "discount": _m(item.discount_amount, currency),
        "tax": _m(item.tax_amount, currency),
        "total": _m(item.total_amount, currency),
        "shipped_quantity": item.shipped_quantity,
        "returned_quantity": item.returned_quantity,
    }


def _shipment(shipment: Shipment) -> ShipmentRead:
    return ShipmentRead(
        id=shipment.id,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        items=list(shipment.items),
        shipped_at=shipment.shipped_at,
        delivered_at=shipment.delivered_at,
    )


def _vendor_order_fields(v: VendorOrder) -> dict[str, object]:
    return {
        "id": v.id,
        "order_id": v.order_id,
        "vendor_id": v.vendor_id,
        "status": v.status,
        "totals": _totals(v),
        "refunded": _m(v.refunded_amount, v.currency),
        "shipping_option": {"id": v.shipping_option_id, "name": v.shipping_option_name},
        "placed_at": v.placed_at,
        "shipped_at": v.shipped_at,
        "delivered_at": v.delivered_at,
        "canceled_at": v.canceled_at,
        "cancel_reason": v.cancel_reason,
    }


async def order_read(session: AsyncSession, order: Order) -> OrderRead:
    vendor_orders = await repo.vendor_orders_of(session, [order.id])
    ids = [v.id for v in vendor_orders]
    items = await repo.items_of(session, ids)
    shipments = await repo.shipments_of(session, ids)
    return order_view(order, vendor_orders, items, shipments)


def order_view(
    order: Order,
    vendor_orders: Sequence[VendorOrder],
    items: Sequence[OrderItem],
    shipments: Sequence[Shipment],
) -> OrderRead:
    """The customer's view of an order from rows already at hand."""
    return OrderRead(
        id=order.id,
        status=order.status,
        currency=order.currency,
        totals=_totals(order),
        refunded=_m(order.refunded_amount, order.currency),
        payment=PaymentRead(
            provider=order.payment_provider,
            status=order.payment_status,
            failure_code=order.failure_code,
            failure_message=order.failure_message,
        ),
        shipping_address=dict(order.shipping_address),
        vendor_orders=[
            VendorOrderRead(
                **_vendor_order_fields(v),
                items=[
                    OrderItemRead(**_item(i, v.currency))
                    for i in items
                    if i.vendor_order_id == v.id
                ],
                shipments=[_shipment(s) for s in shipments if s.vendor_order_id == v.id],
            )
            for v in vendor_orders
        ],
        placed_at=order.placed_at,
        paid_at=order.paid_at,
        canceled_at=order.canceled_at,
    )


async def vendor_views(
    session: AsyncSession, vendor_orders: Sequence[VendorOrder]
) -> list[VendorViewRead]:
    ids = [v.id for v in vendor_orders]
    items = await repo.items_of(session, ids)
    shipments = await repo.shipments_of(session, ids)
    addresses = {
        o.id: o.shipping_address
        for o in await repo.orders_by_ids(session, {v.order_id for v in vendor_orders})
    }
    return [
        VendorViewRead(
            **_vendor_order_fields(v),
            items=[
                VendorItemRead(
                    **_item(i, v.currency),
                    commission=_m(i.commission_amount, v.currency),
                    commission_rate_bps=i.commission_rate_bps,
                )
                for i in items
                if i.vendor_order_id == v.id
            ],
            shipments=[_shipment(s) for s in shipments if s.vendor_order_id == v.id],
            shipping_address=dict(addresses.get(v.order_id, {})),
            commission=_m(v.commission_amount, v.currency),
        )
        for v in vendor_orders
    ]
