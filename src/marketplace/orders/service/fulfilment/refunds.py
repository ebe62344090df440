"""Refunds a vendor gives on its part (an amount, or per item), and the settled refund
(payments event) counted once on the vendor order and the order.
"""

from __future__ import annotations

from collections.abc import Sequence

from marketplace.orders.errors import InvalidTransition, OrderNotFound
from marketplace.orders.events import OrderRefunded
from marketplace.orders.repository import order as repo
from marketplace.orders.service.fulfilment.changes import (
    REASON_MAX,
    Actor,
    _audit,
    _entry,
    locked_vendor_order,
)
from marketplace.orders.service.fulfilment.completion import refresh_order
from marketplace.payments import public as payments
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.uow import UnitOfWork


async def refund(
    uow: UnitOfWork,
    *,
    vendor_order_id: str,
    vendor_id: str,
    actor: Actor,
    amount: int | None,
    items: Sequence[tuple[str, int]] = (),
    reason: str,
    refund_key: str,
) -> payments.RefundView:
    """A vendor gives money back on its part (a goodwill amount, or per item: item totals
    prorated by quantity); never more than is left (payments refuses, 422)."""
    vendor_order = await locked_vendor_order(uow, vendor_order_id, vendor_id=vendor_id)
    if vendor_order.status == "pending_payment":
        raise InvalidTransition("nothing was paid yet", status=vendor_order.status)
    own = {i.id: i for i in await repo.items_of(uow.session, [vendor_order.id])}
    per_item: list[tuple[str, int]] = []
    for index, (item_id, quantity) in enumerate(items):
        item = own.get(item_id)
        if item is None:
            raise ValidationFailed.on_field(
                ["body", "items", index, "order_item_id"], "not an item of this vendor order"
            )
        if not 1 <= quantity <= item.quantity:
            raise ValidationFailed.on_field(
                ["body", "items", index, "quantity"], f"1 to {item.quantity}"
            )
        per_item.append((item_id, item.total_amount * quantity // item.quantity))
    total = amount if amount is not None else sum(a for _, a in per_item)
    if total <= 0:
        raise ValidationFailed.on_field(["body", "amount"], "give an amount or items", "missing")
    if not reason.strip() or len(reason) > REASON_MAX:
        raise ValidationFailed.on_field(["body", "reason"], f"1 to {REASON_MAX} characters")
    made = await payments.request_refund(
        uow,
        order_id=vendor_order.order_id,
        vendor_order_id=vendor_order.id,
        amount=total,
        reason=reason,
        items=per_item,
        idempotency_key=refund_key,
        actor_id=actor.id or "system",
    )
    repo.add_timeline(
        uow.session,
        [
            _entry(
                vendor_order,
                "refund_requested",
                actor,
                from_status=None,
                to_status=None,
                note=f"{total} {vendor_order.currency}: {reason}",
            )
        ],
    )
    _audit(uow, actor, "orders.refund_requested", vendor_order, amount=total, reason=reason)
    return made


async def refund_settled(
    uow: UnitOfWork,
    *,
    refund_id: str,
    order_id: str,
    vendor_order_id: str,
    amount: int,
    currency: str,
) -> None:
    """A refund went through (payments event): count it on the vendor order and the order,
    once per refund (the timeline entry keyed by the refund id is the guard)."""
    done = [
        e
        for e in await repo.timeline(uow.session, order_id, vendor_order_id=vendor_order_id)
        if e.kind == "refunded" and e.note == refund_id
    ]
    if done:
        return
    vendor_order = await locked_vendor_order(uow, vendor_order_id)
    order = await repo.order(uow.session, order_id, lock=True)
    if order is None:
        raise OrderNotFound()
    vendor_order.refunded_amount += amount
    order.refunded_amount += amount
    repo.add_timeline(
        uow.session,
        [
            _entry(
                vendor_order,
                "refunded",
                Actor(None, "system", "system"),
                from_status=None,
                to_status=None,
                note=refund_id,
            )
        ],
    )
    uow.publish(
        OrderRefunded(
            order_id=order_id,
            vendor_order_id=vendor_order_id,
            vendor_id=vendor_order.vendor_id,
            customer_id=order.customer_id,
            currency=currency,
            amount=amount,
            refund_id=refund_id,
        )
    )
    await uow.session.flush()
    await refresh_order(uow, order_id)
