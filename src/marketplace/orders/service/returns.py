"""Returns (RMA): a customer asks to send delivered items back within the vendor's return
window; the vendor approves (refunding the items, optionally putting them back on sale) or
rejects with a note."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from marketplace.inventory import public as inventory
from marketplace.orders.errors import (
    InvalidTransition,
    OrderNotFound,
    ReturnNotFound,
    ReturnWindowClosed,
)
from marketplace.orders.events import ReturnDecided, ReturnRequested
from marketplace.orders.models.order import ReturnRequest
from marketplace.orders.repository import order as repo
from marketplace.orders.service.fulfilment import (
    Actor,
    _audit,
    _entry,
    locked_vendor_order,
    refresh_order,
)
from marketplace.payments import public as payments
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.money import Money, allocate
from marketplace.platform.uow import UnitOfWork

REASONS: Final = ("damaged", "not_as_described", "wrong_item", "no_longer_needed", "other")
DESCRIPTION_MAX: Final = 2000


def _refund_for(total: int, quantity: int, returned: int, currency: str) -> int:
    """The part of a line's total for `returned` of its `quantity` units: the line total
    allocated over its units (largest remainder), so returning every unit refunds it all."""
    units = allocate(Money(total, currency), [1] * quantity)
    return sum(u.amount for u in units[:returned])


async def request_return(
    uow: UnitOfWork,
    *,
    order_id: str,
    customer_id: str,
    items: Sequence[tuple[str, int]],
    reason: str,
    description: str,
) -> ReturnRequest:
    if reason not in REASONS:
        raise ValidationFailed.on_field(["body", "reason"], f"one of {', '.join(REASONS)}")
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed.on_field(["body", "description"], f"at most {DESCRIPTION_MAX}")
    if not items:
        raise ValidationFailed.on_field(["body", "items"], "name the items to return", "empty")
    order = await repo.order(uow.session, order_id)
    if order is None or order.customer_id != customer_id:
        raise OrderNotFound()
    vendor_orders = {v.id: v for v in await repo.vendor_orders_of(uow.session, [order_id])}
    all_items = {i.id: i for i in await repo.items_of(uow.session, list(vendor_orders))}
    first = all_items.get(items[0][0])
    if first is None:
        raise ValidationFailed.on_field(
            ["body", "items", 0, "order_item_id"], "not an item of this order", "unknown_item"
        )
    vendor_order = await locked_vendor_order(uow, first.vendor_order_id)
    if vendor_order.status != "delivered" or vendor_order.delivered_at is None:
        raise InvalidTransition("only delivered items can be returned", status=vendor_order.status)
    closes = vendor_order.delivered_at + timedelta(days=vendor_order.return_window_days)
    if utcnow() > closes:
        raise ReturnWindowClosed.on_field(
            ["body", "items"],
            f"the return window closed on {closes.date().isoformat()}",
            "return_window_closed",
        )
    pending = await repo.pending_return_quantities(uow.session, vendor_order.id)
    wanted: dict[str, int] = {}
    refund = 0
    for index, (item_id, quantity) in enumerate(items):
        item = all_items.get(item_id)
        loc: list[str | int] = ["body", "items", index]
        if item is None or item.vendor_order_id != vendor_order.id:
            raise ValidationFailed.on_field(
                [*loc, "order_item_id"],
                "not an item of this order, or of another vendor (one return per vendor)",
                "unknown_item",
            )
        wanted[item_id] = wanted.get(item_id, 0) + quantity
        left = item.shipped_quantity - item.returned_quantity - pending.get(item_id, 0)
        if quantity < 1 or wanted[item_id] > left:
            raise ValidationFailed.on_field(
                [*loc, "quantity"], f"{left} unit(s) of this item can be returned", "quantity"
            )
    for item_id, quantity in wanted.items():
        item = all_items[item_id]
        refund += _refund_for(item.total_amount, item.quantity, quantity, order.currency)
    now = utcnow()
    request = ReturnRequest(
        id=new_id("rma"),
        order_id=order_id,
        vendor_order_id=vendor_order.id,
        vendor_id=vendor_order.vendor_id,
        customer_id=customer_id,
        status="requested",
        reason=reason,
        description=description,
        items=[{"order_item_id": k, "quantity": q} for k, q in wanted.items()],
        refund_amount=refund,
        currency=order.currency,
        restock=None,
        decision_note=None,
        refund_id=None,
        created_at=now,
        decided_at=None,
    )
    uow.session.add(request)
    customer = Actor(customer_id, "customer", "customer")
    repo.add_timeline(
        uow.session,
        [
            _entry(
                vendor_order,
                "return_requested",
                customer,
                from_status=None,
                to_status=None,
                note=request.id,
            )
        ],
    )
    uow.publish(
        ReturnRequested(
            return_id=request.id,
            order_id=order_id,
            vendor_order_id=vendor_order.id,
            vendor_id=vendor_order.vendor_id,
            customer_id=customer_id,
        )
    )
    return request


async def decide_return(
    uow: UnitOfWork,
    *,
    return_id: str,
    vendor_id: str,
    actor: Actor,
    approve: bool,
    restock: bool = False,
    amount: int | None = None,
    note: str | None = None,
) -> ReturnRequest:
    """Approve (refund `amount`, default the items' share; optionally put them back on sale)
    or reject. Deciding twice is refused (409)."""
    request = await repo.return_request(uow.session, return_id, vendor_id=vendor_id, lock=True)
    if request is None:
        raise ReturnNotFound()
    if request.status != "requested":
        raise InvalidTransition(f"this return was {request.status}", status=request.status)
    if amount is not None and not 0 <= amount <= request.refund_amount:
        raise ValidationFailed.on_field(
            ["body", "amount"], f"0 to {request.refund_amount} (the items' share)"
        )
    vendor_order = await locked_vendor_order(uow, request.vendor_order_id, vendor_id=vendor_id)
    now = utcnow()
    request.status = "approved" if approve else "rejected"
    request.decided_at = now
    request.decision_note = note
    if approve:
        request.restock = restock
        items = {i.id: i for i in await repo.items_of(uow.session, [vendor_order.id], lock=True)}
        for line in request.items:
            item = items[line["order_item_id"]]
            item.returned_quantity += int(line["quantity"])
            if restock:
                with contextlib.suppress(inventory.SkuNotFound):
                    await inventory.adjust(
                        uow,
                        vendor_id=vendor_id,
                        sku=item.sku,
                        delta=int(line["quantity"]),
                        reason=f"return {request.id}",
                        actor_id=actor.id or "system",
                    )
        refund_amount = request.refund_amount if amount is None else amount
        request.refund_amount = refund_amount
        if refund_amount > 0:
            made = await payments.request_refund(
                uow,
                order_id=request.order_id,
                vendor_order_id=vendor_order.id,
                amount=refund_amount,
                reason=f"return {request.id}: {request.reason}",
                items=[],
                idempotency_key=f"return:{request.id}",
                actor_id=actor.id or "system",
            )
            request.refund_id = made.id
        if all(i.returned_quantity == i.quantity for i in items.values()):
            previous = vendor_order.status
            vendor_order.status = "returned"
            vendor_order.updated_at = now
            repo.add_timeline(
                uow.session,
                [
                    _entry(
                        vendor_order, "returned", actor, from_status=previous, to_status="returned"
                    )
                ],
            )
    repo.add_timeline(
        uow.session,
        [
            _entry(
                vendor_order,
                "return_approved" if approve else "return_rejected",
                actor,
                from_status=None,
                to_status=None,
                note=note or request.id,
            )
        ],
    )
    _audit(
        uow, actor, "orders.return_decided", vendor_order, return_id=request.id, approved=approve
    )
    uow.publish(
        ReturnDecided(
            return_id=request.id,
            order_id=request.order_id,
            vendor_order_id=vendor_order.id,
            vendor_id=vendor_id,
            customer_id=request.customer_id,
            approved=approve,
            refund_amount=request.refund_amount if approve else 0,
            currency=vendor_order.currency,
        )
    )
    await uow.session.flush()
    await refresh_order(uow, request.order_id)
    return request
