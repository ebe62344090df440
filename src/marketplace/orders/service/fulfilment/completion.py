"""The customer order's status, derived from its vendor orders and money after every change
(`refresh_order`), and its completion once the last return window has closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from marketplace.orders.domain.status import order_status
from marketplace.orders.errors import OrderNotFound
from marketplace.orders.events import OrderStatusChanged
from marketplace.orders.models.order import TimelineEntry, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.platform.clock import utcnow
from marketplace.platform.uow import UnitOfWork


def _completes_at(vendor_orders: Sequence[VendorOrder]) -> datetime | None:
    """When the last return window of a fully delivered order closes; None until then."""
    live = [v for v in vendor_orders if v.status != "canceled"]
    if not live or any(v.status not in ("delivered", "returned") for v in live):
        return None
    closes = [
        v.delivered_at + timedelta(days=v.return_window_days)
        for v in live
        if v.delivered_at is not None
    ]
    return max(closes) if len(closes) == len(live) else None


async def complete_orders(uow: UnitOfWork, *, limit: int = 500) -> int:
    """Orders whose last return window closed become `completed`; how many were looked at."""
    due = await repo.orders_to_complete(uow.session, now=utcnow(), limit=limit)
    for order_id in due:
        await refresh_order(uow, order_id)
    return len(due)


async def refresh_order(uow: UnitOfWork, order_id: str) -> str:
    """Derive the customer order's status from its vendor orders and money; publish the news
    when it changed. Returns the status."""
    order = await repo.order(uow.session, order_id, lock=True)
    if order is None:
        raise OrderNotFound()
    vendor_orders = await repo.vendor_orders_of(uow.session, [order_id])
    now = utcnow()
    completes_at = _completes_at(vendor_orders)
    status = order_status(
        [v.status for v in vendor_orders],
        paid=order.paid_at is not None,
        refunded_amount=order.refunded_amount,
        captured_amount=order.total_amount if order.paid_at is not None else 0,
        completed=completes_at is not None and completes_at <= now,
    )
    if completes_at != order.completes_at:
        order.completes_at = completes_at
    if status != order.status:
        previous = order.status
        await repo.set_order_status(uow.session, order_id, status, now)
        repo.add_timeline(
            uow.session,
            [
                TimelineEntry.new(
                    order_id=order_id,
                    kind="status",
                    from_status=previous,
                    to_status=status,
                    created_at=now,
                )
            ],
        )
        uow.publish(
            OrderStatusChanged(
                order_id=order_id,
                customer_id=order.customer_id,
                from_status=previous,
                to_status=status,
            )
        )
    return status
