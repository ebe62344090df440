"""The orders facade other contexts may call: small functions, plain DTOs out."""

from __future__ import annotations

from dataclasses import dataclass

from marketplace.orders.repository import order as repo
from marketplace.platform.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class VendorOrderRef:
    id: str
    vendor_id: str
    status: str


@dataclass(frozen=True, slots=True)
class OrderParties:
    """Who an order belongs to (its customer) and its vendor orders: what another context
    needs to decide who may see data about the order."""

    order_id: str
    customer_id: str
    vendor_orders: tuple[VendorOrderRef, ...]


async def order_parties(uow: UnitOfWork, order_id: str) -> OrderParties | None:
    order = await repo.order(uow.session, order_id)
    if order is None:
        return None
    vendor_orders = await repo.vendor_orders_of(uow.session, [order_id])
    return OrderParties(
        order_id=order.id,
        customer_id=order.customer_id,
        vendor_orders=tuple(VendorOrderRef(v.id, v.vendor_id, v.status) for v in vendor_orders),
    )
