"""The sweep of orders left unpaid past their stock reservation: each is settled from its
payment's status, a payment still pending being canceled first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from marketplace.inventory import public as inventory
from marketplace.orders.repository import order as repo
from marketplace.orders.service.checkout.settling import settle
from marketplace.payments import public as payments
from marketplace.platform.clock import utcnow
from marketplace.platform.uow import UnitOfWork

# An unpaid order older than its reservation (plus a margin for a slow provider) is settled
# from its payment's status by the sweep.
UNPAID_AFTER: Final = inventory.DEFAULT_RESERVATION_TTL + timedelta(minutes=5)
EXPIRY_BATCH: Final = 100


async def expire_unpaid_orders(uow: UnitOfWork, *, limit: int = EXPIRY_BATCH) -> int:
    """Settle orders left unpaid past their reservation from their payment's status; a
    payment still pending then is canceled (the customer never completed it)."""
    due = await repo.stale_unpaid_orders(
        uow.session, placed_before=utcnow() - UNPAID_AFTER, limit=limit
    )
    for order_id in due:
        payment = await payments.payment_of_order(uow, order_id)
        if payment is None:
            continue
        if payment.status == "pending":
            await payments.cancel_payment(uow, payment_id=payment.id)
            payment = await payments.payment_of_order(uow, order_id)
            assert payment is not None
        await settle(uow, order_id=order_id, payment=payment)
    return len(due)
