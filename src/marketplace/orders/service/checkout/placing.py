"""The checkout's first transaction: the priced order is written already split into vendor
orders and lines, its stock reserved and its payment started, then committed; a retry with
the same checkout key resumes the same order. The provider is called after that commit and
the order settled from its answer (`settling`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from marketplace.identity.public import Principal
from marketplace.inventory import public as inventory
from marketplace.orders.models.order import Order, OrderItem, TimelineEntry, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.orders.service.checkout.pricing import Checkout, _lines, _price, _Priced
from marketplace.orders.service.checkout.settling import settle
from marketplace.payments import public as payments
from marketplace.platform.clock import utcnow
from marketplace.platform.db import transient
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork


def _new_order(
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
    order = transient(
        Order,
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
        vendor_order = transient(
            VendorOrder,
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
                transient(
                    OrderItem,
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
        # Held by the commit's last statement before it writes the rows below: the stock
        # rows are what concurrent checkouts share, so they are locked last.
        reservation = await inventory.hold_at_commit(
            uow,
            reference=order_id,
            lines=[(item.variant_id, item.quantity) for item in items],
        )
        order, vendor_orders, lines = _new_order(
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
        # Written with the commit (one statement on PostgreSQL), parents first (the rows
        # reference each other by foreign key): nothing reads or changes them before it.
        uow.add_new(
            order,
            *vendor_orders,
            *lines,
            TimelineEntry.new(
                order_id=order_id,
                kind="placed",
                to_status="pending_payment",
                actor_id=customer.id,
                actor_role="customer",
                created_at=now,
            ),
        )
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
