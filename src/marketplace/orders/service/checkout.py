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
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from marketplace.catalog import public as catalog
from marketplace.identity.public import Principal
from marketplace.inventory import public as inventory
from marketplace.orders.domain.pricing import LineInput, Quote, quote
from marketplace.orders.domain.status import sources_of
from marketplace.orders.errors import CartClosed, CheckoutRefused
from marketplace.orders.events import (
    OrderPaymentFailed,
    OrderPlaced,
    VendorOrderCanceled,
    VendorOrderPlaced,
    VendorPart,
)
from marketplace.orders.models.order import Order, OrderItem, TimelineEntry, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.orders.service import carts
from marketplace.payments import public as payments
from marketplace.platform.clock import utcnow
from marketplace.platform.db import insert_objects
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.ids import new_id
from marketplace.platform.money import Money
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

MAX_LINES: Final = 100
MAX_QUANTITY: Final = 99
# An unpaid order older than its reservation (plus a margin for a slow provider) is settled
# from its payment's status by the sweep.
UNPAID_AFTER: Final = inventory.DEFAULT_RESERVATION_TTL + timedelta(minutes=5)
EXPIRY_BATCH: Final = 100


@dataclass(frozen=True, slots=True)
class CheckoutItem:
    variant_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Checkout:
    shipping_address: Mapping[str, str]
    shipping_options: Mapping[str, str]
    provider: str
    payment_method: str
    cart_id: str | None = None
    items: Sequence[CheckoutItem] = ()
    coupon_codes: Sequence[str] = ()
    currency: str | None = None
    language: str | None = None
    tax_rates: Mapping[str, int] = field(default_factory=dict)  # country -> bps


def _refuse(loc: Sequence[str | int], msg: str, code: str) -> ValidationFailed:
    return CheckoutRefused.on_field(loc, msg, code)


async def _lines(uow: UnitOfWork, customer: Principal, request: Checkout) -> list[CheckoutItem]:
    if request.cart_id and request.items:
        raise _refuse(["body", "items"], "give a cart_id or items, not both", "ambiguous")
    if request.cart_id:
        found = await carts.checkout_lines(uow, cart_id=request.cart_id, customer_id=customer.id)
        items = [CheckoutItem(line.variant_id, line.quantity) for line in found]
    else:
        items = list(request.items)
    if not items:
        raise _refuse(["body", "items"], "nothing to buy", "empty")
    merged: dict[str, int] = {}
    for index, item in enumerate(items):
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise _refuse(
                ["body", "items", index, "quantity"], f"1 to {MAX_QUANTITY} per line", "quantity"
            )
        merged[item.variant_id] = merged.get(item.variant_id, 0) + item.quantity
    if len(merged) > MAX_LINES:
        raise _refuse(["body", "items"], f"at most {MAX_LINES} different items", "too_many")
    return [CheckoutItem(v, min(q, MAX_QUANTITY)) for v, q in merged.items()]


@dataclass(frozen=True, slots=True)
class _Priced:
    quote: Quote
    infos: dict[str, catalog.VariantInfo]
    commissions: dict[str, tuple[int | None, str | None]]  # variant -> (rate bps, rule id)
    shipping: dict[str, vendors.ShippingOptionInfo]
    return_windows: dict[str, int]
    tax_bps: int


async def _price(
    uow: UnitOfWork, items: Sequence[CheckoutItem], request: Checkout, now: datetime
) -> _Priced:
    infos = await catalog.variants_info(uow, [item.variant_id for item in items])
    for index, item in enumerate(items):
        info = infos.get(item.variant_id)
        if info is None or not info.purchasable:
            raise _refuse(
                ["body", "items", index, "variant_id"],
                f"{item.variant_id} is not for sale",
                "not_purchasable",
            )
    currencies = {infos[item.variant_id].price.currency for item in items}
    if len(currencies) > 1:
        raise _refuse(
            ["body", "items"], "items are priced in several currencies", "mixed_currencies"
        )
    currency = currencies.pop()
    if request.currency is not None and request.currency != currency:
        raise _refuse(
            ["body", "currency"], f"these items are sold in {currency}", "currency_unavailable"
        )
    if request.coupon_codes:
        raise _refuse(["body", "coupon_codes", 0], "no such coupon", "coupon_not_found")
    country = request.shipping_address["country"]
    vendor_ids = list(dict.fromkeys(infos[item.variant_id].vendor_id for item in items))
    shipping: dict[str, vendors.ShippingOptionInfo] = {}
    windows: dict[str, int] = {}
    # Every vendor of the cart, its options and the commission rules: one query each.
    sellers = await vendors.vendor_infos(uow, vendor_ids)
    options_of = await vendors.shipping_options_of(uow, vendor_ids)
    for vendor_id in vendor_ids:
        vendor = sellers.get(vendor_id)
        if vendor is None or not vendor.can_sell:
            raise _refuse(["body", "items"], f"vendor {vendor_id} is not selling", "vendor_closed")
        windows[vendor_id] = vendor.return_window_days
        option_id = request.shipping_options.get(vendor_id)
        loc: list[str | int] = ["body", "shipping_options", vendor_id]
        if option_id is None:
            raise _refuse(loc, "choose a shipping option for this vendor", "missing")
        options = {o.id: o for o in options_of[vendor_id]}
        option = options.get(option_id)
        if option is None:
            raise _refuse(loc, "no such shipping option", "unknown_shipping_option")
        if not option.ships_to(country):
            raise _refuse(loc, f"this option does not ship to {country}", "not_shipped_there")
        if option.price.currency != currency:
            raise _refuse(loc, "shipping is priced in another currency", "mixed_currencies")
        shipping[vendor_id] = option

    resolved = await vendors.resolve_commissions(
        uow,
        sales=[
            (infos[item.variant_id].vendor_id, infos[item.variant_id].category_path)
            for item in items
        ],
        at=now,
    )
    rules = {item.variant_id: rule for item, rule in zip(items, resolved, strict=True)}

    def commission_of(line: LineInput, base: int) -> int:
        rule = rules[line.key]
        return 0 if rule is None else rule.on(Money(base, currency)).amount

    tax_bps = request.tax_rates.get(country, 0)
    priced = quote(
        currency,
        [
            LineInput(
                key=item.variant_id,
                vendor_id=infos[item.variant_id].vendor_id,
                unit_price=infos[item.variant_id].price.amount,
                quantity=item.quantity,
            )
            for item in items
        ],
        shipping={v: o.price.amount for v, o in shipping.items()},
        tax_bps=tax_bps,
        commission_of=commission_of,
    )
    commissions: dict[str, tuple[int | None, str | None]] = {
        v: (r.terms.percent_bps, r.rule_id) if r is not None else (None, None)
        for v, r in rules.items()
    }
    return _Priced(priced, infos, commissions, shipping, windows, tax_bps)


def _new_order(
    uow: UnitOfWork,
    *,
    order_id: str,
    customer: Principal,
    request: Checkout,
    checkout_key: str,
    priced: _Priced,
    reservation_id: str,
    now: datetime,
) -> tuple[Order, list[VendorOrder], list[OrderItem]]:
    q = priced.quote
    order = Order(
        id=order_id,
        customer_id=customer.id,
        checkout_key=checkout_key,
        cart_id=request.cart_id,
        status="pending_payment",
        currency=q.currency,
        subtotal_amount=q.subtotal,
        discount_amount=q.discount,
        shipping_amount=q.shipping,
        tax_amount=q.tax,
        total_amount=q.total,
        refunded_amount=0,
        shipping_address=dict(request.shipping_address),
        language=request.language,
        payment_provider=request.provider,
        payment_id=None,
        payment_status="pending",
        failure_code=None,
        failure_message=None,
        reservation_id=reservation_id,
        placed_at=now,
        paid_at=None,
        canceled_at=None,
        completes_at=None,
        updated_at=now,
    )
    vendor_orders: list[VendorOrder] = []
    items: list[OrderItem] = []
    for part in q.vendor_orders:
        option = priced.shipping[part.vendor_id]
        vendor_order = VendorOrder(
            id=new_id("vor"),
            order_id=order_id,
            vendor_id=part.vendor_id,
            customer_id=customer.id,
            status="pending_payment",
            currency=q.currency,
            subtotal_amount=part.subtotal,
            discount_amount=part.discount,
            platform_discount_amount=part.platform_discount,
            shipping_amount=part.shipping,
            tax_amount=part.tax,
            total_amount=part.total,
            commission_amount=part.commission,
            refunded_amount=0,
            shipping_option_id=option.id,
            shipping_option_name=option.name,
            return_window_days=priced.return_windows[part.vendor_id],
            cancel_reason=None,
            placed_at=now,
            shipped_at=None,
            delivered_at=None,
            canceled_at=None,
            updated_at=now,
        )
        vendor_orders.append(vendor_order)
        for line in part.lines:
            info = priced.infos[line.key]
            rate, rule_id = priced.commissions[line.key]
            items.append(
                OrderItem(
                    id=new_id("oit"),
                    order_id=order_id,
                    vendor_order_id=vendor_order.id,
                    vendor_id=part.vendor_id,
                    variant_id=line.key,
                    product_id=info.product_id,
                    sku=info.sku,
                    title=info.title[:200],
                    attributes=dict(info.attributes),
                    quantity=line.quantity,
                    unit_price_amount=line.unit_price,
                    subtotal_amount=line.subtotal,
                    discount_amount=line.discount,
                    tax_amount=line.tax,
                    total_amount=line.total,
                    tax_rate_bps=priced.tax_bps,
                    commission_amount=line.commission,
                    commission_rate_bps=rate,
                    commission_rule_id=rule_id,
                    shipped_quantity=0,
                    returned_quantity=0,
                    refunded_amount=0,
                )
            )
    repo.add_timeline(
        uow.session,
        [
            TimelineEntry.new(
                order_id=order_id,
                kind="placed",
                to_status="pending_payment",
                actor_id=customer.id,
                actor_role="customer",
                created_at=now,
            )
        ],
    )
    return order, vendor_orders, items


def _shares(
    vendor_orders: Sequence[VendorOrder], items: Sequence[OrderItem]
) -> list[payments.VendorShare]:
    shares = []
    for vendor_order in vendor_orders:
        own = [i for i in items if i.vendor_order_id == vendor_order.id]
        shares.append(
            payments.VendorShare(
                vendor_order_id=vendor_order.id,
                vendor_id=vendor_order.vendor_id,
                gross_amount=vendor_order.total_amount,
                tax_amount=vendor_order.tax_amount,
                commission_amount=vendor_order.commission_amount,
                commission_tax_amount=0,
                platform_discount_amount=vendor_order.platform_discount_amount,
                lines=tuple(
                    payments.CommissionLine(
                        order_item_id=i.id,
                        rule_id=i.commission_rule_id,
                        rate_bps=i.commission_rate_bps,
                        amount=i.commission_amount,
                    )
                    for i in own
                ),
            )
        )
    return shares


SETTLED_KEY: Final = "orders.checkout.settled"


@dataclass(frozen=True, slots=True)
class SettledOrder:
    """An order this unit of work has just paid, as it now is, with its parts."""

    order: Order
    vendor_orders: list[VendorOrder]
    items: list[OrderItem]


def settled_order(uow: UnitOfWork, order_id: str) -> SettledOrder | None:
    """The order `order_id` if this unit of work has just paid it (`settle`), else None."""
    found = uow.extras.get(SETTLED_KEY)
    if isinstance(found, SettledOrder) and found.order.id == order_id:
        return found
    return None


async def place_order(
    uow: UnitOfWork,
    gateways: payments.Gateways,
    *,
    customer: Principal,
    request: Checkout,
    checkout_key: str,
) -> str:
    """Place (or resume) the customer's checkout `checkout_key`; returns the order id.

    Commits the first step itself (see the module); the settlement is left for the caller's
    boundary to commit.
    """
    existing = await repo.order_by_checkout_key(
        uow.session, customer_id=customer.id, checkout_key=checkout_key
    )
    if existing is None:
        now = utcnow()
        items = await _lines(uow, customer, request)
        priced = await _price(uow, items, request, now)
        order_id = new_id("ord")
        reservation = await inventory.reserve(
            uow,
            reference=order_id,
            lines=[(item.variant_id, item.quantity) for item in items],
        )
        order, vendor_orders, lines = _new_order(
            uow,
            order_id=order_id,
            customer=customer,
            request=request,
            checkout_key=checkout_key,
            priced=priced,
            reservation_id=reservation.id,
            now=now,
        )
        # The payment first (its rows do not reference ours), so the order is inserted with
        # its payment id instead of updated after.
        payment = await payments.start_payment(
            uow,
            order_id=order_id,
            customer_id=customer.id,
            currency=order.currency,
            amount=order.total_amount,
            provider=request.provider,
            payment_method=request.payment_method,
            shares=_shares(vendor_orders, lines),
            idempotency_key=f"order:{order_id}",
            new_order=True,
        )
        order.payment_id = payment.id
        # Parents first (the rows reference each other by foreign key), with Core INSERTs:
        # nothing changes these objects again in this transaction.
        await insert_objects(uow.session, [order, *vendor_orders, *lines])
        await uow.commit()
        written: Sequence[OrderItem] | None = lines
    else:
        order_id = existing.id
        if existing.status != "pending_payment" or existing.payment_id is None:
            return order_id
        payment_id = existing.payment_id
        written = None
        await uow.commit()
        found = await payments.payment_of_order(uow, order_id)
        assert found is not None
        assert found.id == payment_id
        payment = found
    if payment.status == "pending":
        payment = await payments.confirm_payment(uow, gateways, payment_id=payment.id)
    await settle(uow, order_id=order_id, payment=payment, items=written)
    return order_id


async def settle(
    uow: UnitOfWork,
    *,
    order_id: str,
    payment: payments.PaymentView,
    items: Sequence[OrderItem] | None = None,
) -> None:
    """Bring a pending order in line with its payment: paid or canceled. A no-op when the
    payment is still pending or the order was settled already (any number of callers: the
    checkout, the payment events, the sweep). `items`: the order's items when the caller
    wrote them in this request (they do not change before the order is paid), so they are
    not read again."""
    if payment.status == "succeeded":
        await _paid(uow, order_id, payment, items)
    elif payment.status in ("failed", "canceled"):
        await _payment_failed(uow, order_id, payment)


async def _secure_stock(uow: UnitOfWork, order: Order) -> bool:
    """Sell the order's reserved units. If the reservation expired while the provider was
    answering (its units went back on sale), reserve them again; False if they are gone."""
    if order.reservation_id is None:
        return True
    try:
        await inventory.commit(uow, order.reservation_id)
    except inventory.ReservationClosed:
        vendor_orders = await repo.vendor_orders_of(uow.session, [order.id])
        items = await repo.items_of(uow.session, [v.id for v in vendor_orders])
        try:
            again = await inventory.reserve(
                uow, reference=order.id, lines=[(i.variant_id, i.quantity) for i in items]
            )
        except inventory.OutOfStock:
            return False
        await inventory.commit(uow, again.id)
        order.reservation_id = again.id
        await uow.session.flush()
    return True


async def _sold_out(uow: UnitOfWork, order: Order, payment: payments.PaymentView) -> None:
    """Paid, but the units were sold to someone else meanwhile: cancel and refund in full.
    `order` was moved to paid by this transaction (its lock is ours), never committed so."""
    now = utcnow()
    if not await repo.move_order(
        uow.session,
        order.id,
        sources=["paid"],
        now=now,
        status="canceled",
        payment_status="succeeded",
        paid_at=now,
        failure_code="sold_out",
        failure_message="the items sold out while the payment was confirmed; refunded",
        canceled_at=now,
    ):
        return
    vendor_orders = await repo.vendor_orders_of(uow.session, [order.id])
    reason = "sold out while the payment was confirmed"
    await repo.move_vendor_orders(
        uow.session,
        [v.id for v in vendor_orders],
        sources=sources_of("canceled"),
        target="canceled",
        now=now,
        canceled_at=now,
        cancel_reason=reason,
    )
    for v in vendor_orders:
        await payments.request_refund(
            uow,
            order_id=order.id,
            vendor_order_id=v.id,
            amount=v.total_amount,
            reason=reason,
            idempotency_key=f"sold-out:{v.id}",
            actor_id="system",
        )
        uow.publish(
            VendorOrderCanceled(
                vendor_order_id=v.id,
                order_id=order.id,
                vendor_id=v.vendor_id,
                customer_id=order.customer_id,
                canceled_by="system",
                reason=reason,
            )
        )
    repo.add_timeline(
        uow.session,
        [
            TimelineEntry.new(
                order_id=order.id,
                kind="sold_out",
                from_status="pending_payment",
                to_status="canceled",
                note=f"{payment.provider} payment {payment.id} refunded",
                created_at=now,
            )
        ],
    )


async def _paid(
    uow: UnitOfWork,
    order_id: str,
    payment: payments.PaymentView,
    known_items: Sequence[OrderItem] | None = None,
) -> None:
    now = utcnow()
    # The conditional UPDATE decides and locks at once: of several settlers (the checkout,
    # the payment events, the sweep) one moves the order; the others wait for its commit
    # and find nothing to move. If the units turn out to be gone, the same transaction
    # cancels it instead, so "paid" is never seen without its stock.
    order = await repo.move_order_returning(
        uow.session,
        order_id,
        sources=["pending_payment"],
        now=now,
        status="paid",
        payment_status="succeeded",
        paid_at=now,
    )
    if order is None:
        return
    if not await _secure_stock(uow, order):
        await _sold_out(uow, order, payment)
        return
    # A vendor order of a pending order is pending itself: all of them move.
    vendor_orders = await repo.move_vendor_orders_of(
        uow.session,
        order_id,
        sources=sources_of("processing"),
        target="processing",
        now=now,
    )
    if order.cart_id is not None:
        # Converted by an earlier checkout of the same cart, or merged away: nothing to do.
        with contextlib.suppress(CartClosed):
            await carts.mark_converted(uow, cart_id=order.cart_id, order_id=order_id)
    items = (
        sorted(known_items, key=lambda i: (i.vendor_order_id, i.id))
        if known_items is not None
        else await repo.items_of(uow.session, [v.id for v in vendor_orders])
    )
    # The caller answering with the order reads these instead of reading them again; a
    # vendor order paid just now has no shipments yet.
    uow.extras[SETTLED_KEY] = SettledOrder(order, vendor_orders, items)
    repo.add_timeline(
        uow.session,
        [
            TimelineEntry.new(
                order_id=order_id,
                kind="paid",
                from_status="pending_payment",
                to_status="paid",
                note=f"{payment.provider} payment {payment.id}",
                created_at=now,
            ),
            *(
                TimelineEntry.new(
                    order_id=order_id,
                    vendor_order_id=v.id,
                    kind="placed",
                    from_status="pending_payment",
                    to_status="processing",
                    created_at=now,
                )
                for v in vendor_orders
            ),
        ],
    )
    uow.publish(
        OrderPlaced(
            order_id=order_id,
            customer_id=order.customer_id,
            currency=order.currency,
            total=order.total_amount,
            vendor_parts=[
                VendorPart(
                    vendor_order_id=v.id,
                    vendor_id=v.vendor_id,
                    total=v.total_amount,
                    item_count=sum(i.quantity for i in items if i.vendor_order_id == v.id),
                    lines=[
                        {
                            "order_item_id": i.id,
                            "sku": i.sku,
                            "title": i.title,
                            "quantity": i.quantity,
                            "total": i.total_amount,
                        }
                        for i in items
                        if i.vendor_order_id == v.id
                    ],
                )
                for v in vendor_orders
            ],
        )
    )
    for v in vendor_orders:
        uow.publish(
            VendorOrderPlaced(
                vendor_order_id=v.id,
                order_id=order_id,
                vendor_id=v.vendor_id,
                currency=v.currency,
                total=v.total_amount,
                items=[
                    {"order_item_id": i.id, "sku": i.sku, "title": i.title, "quantity": i.quantity}
                    for i in items
                    if i.vendor_order_id == v.id
                ],
            )
        )


async def _payment_failed(uow: UnitOfWork, order_id: str, payment: payments.PaymentView) -> None:
    now = utcnow()
    if not await repo.move_order(
        uow.session,
        order_id,
        sources=["pending_payment"],
        now=now,
        status="canceled",
        payment_status=payment.status,
        failure_code=payment.failure_code,
        failure_message=(payment.failure_message or "")[:300] or None,
        canceled_at=now,
    ):
        return
    order = await repo.order(uow.session, order_id)
    assert order is not None
    vendor_orders = await repo.vendor_orders_of(uow.session, [order_id])
    reason = f"payment {payment.status}: {payment.failure_code or 'unknown'}"
    await repo.move_vendor_orders(
        uow.session,
        [v.id for v in vendor_orders],
        sources=sources_of("canceled"),
        target="canceled",
        now=now,
        canceled_at=now,
        cancel_reason=reason,
    )
    if order.reservation_id is not None:
        await inventory.release(uow, order.reservation_id)
    repo.add_timeline(
        uow.session,
        [
            TimelineEntry.new(
                order_id=order_id,
                kind="payment_failed",
                from_status="pending_payment",
                to_status="canceled",
                note=reason,
                created_at=now,
            )
        ],
    )
    uow.publish(
        OrderPaymentFailed(
            order_id=order_id,
            customer_id=order.customer_id,
            failure_code=payment.failure_code,
            failure_message=payment.failure_message,
        )
    )


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
