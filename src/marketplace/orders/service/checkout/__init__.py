"""Checkout: a cart (or a list of items) becomes one customer order split into one vendor
order per vendor, paid through the payments facade.

`place_order` runs in two transactions with the provider call between them, so no row lock,
stock reservation check or database connection is held while a gateway answers:

1. validate and price everything, reserve the stock (all lines or none), write the order,
   its vendor orders and lines (the split happens here: an order never exists un-split),
   start the payment, commit;
2. charge through the provider (`payments.confirm_payment`), then `settle` the order in the
   transaction the HTTP boundary commits: paid (reservation committed, cart converted,
   confirmations published) or canceled with the decline reason (reservation released).

A crash between the two leaves a `pending_payment` order whose stock is reserved: the
client's retry with the same Idempotency-Key finds the order by its checkout key and
resumes at step 2 (the payment's own idempotency key means no second charge); without a
retry, `expire_unpaid_orders` settles it from the payment's status, and the reservation's
expiry frees the stock in any case. The payment events (`payments.events`) settle it too,
so a provider that confirms asynchronously converges the same way.

The modules: `pricing` (the request, its lines checked and priced), `placing` (the first
transaction), `settling` (the payment's outcome applied to the order), `expiry` (the sweep
of orders left unpaid).
"""

from marketplace.orders.service.checkout.expiry import (
    EXPIRY_BATCH,
    UNPAID_AFTER,
    expire_unpaid_orders,
)
from marketplace.orders.service.checkout.placing import place_order
from marketplace.orders.service.checkout.pricing import (
    MAX_LINES,
    MAX_QUANTITY,
    Checkout,
    CheckoutItem,
)
from marketplace.orders.service.checkout.settling import (
    SETTLED_KEY,
    SettledOrder,
    follow_payment,
    settle,
    settled_order,
)

__all__ = [
    "EXPIRY_BATCH",
    "MAX_LINES",
    "MAX_QUANTITY",
    "SETTLED_KEY",
    "UNPAID_AFTER",
    "Checkout",
    "CheckoutItem",
    "SettledOrder",
    "expire_unpaid_orders",
    "follow_payment",
    "place_order",
    "settle",
    "settled_order",
]
