"""What goes into a receipt or a statement, gathered from the order's snapshots, the payment
facts (`payments.public.payment_facts`), the reader's locale and the vendors' names, and
rendered to PDF bytes off the event loop. Reads only: recording is `receipts.py`'s.

Each thing is read once per order, whatever the number of documents: the vendors (names for
every document, countries for the statements' language) with the order, and the owners'
locales of every vendor at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from babel.languages import get_official_languages

from marketplace.identity import public as identity
from marketplace.orders.domain.receipt import (
    DocumentLine,
    ReceiptData,
    StatementData,
    VendorSection,
    address_lines,
    choose_locale,
    earnings,
    payment_status,
    receipt_number,
    statement_number,
)
from marketplace.orders.domain.receipt_pdf import Layout, render_receipt, render_statement
from marketplace.orders.models.order import Order, OrderItem, VendorOrder
from marketplace.orders.repository import order as repo
from marketplace.orders.service.rendering import Renderer
from marketplace.payments import public as payments
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors


@dataclass(frozen=True, slots=True)
class Paid:
    """A paid order with its vendor orders, lines, payment facts and vendors."""

    order: Order
    vendor_orders: list[VendorOrder]
    items: list[OrderItem]
    facts: payments.PaymentFacts
    paid_at: datetime
    vendors: Mapping[str, vendors.VendorInfo]  # by id; a vendor since deleted is left out


async def paid_order(uow: UnitOfWork, order: Order) -> Paid | None:
    """The order with its parts and payment, or None if it was never paid."""
    if order.paid_at is None or order.payment_status != "succeeded":
        return None
    facts = await payments.payment_facts(uow, order.id)
    if facts is None or facts.status != "succeeded":
        return None
    vendor_orders = await repo.vendor_orders_of(uow.session, [order.id])
    items = await repo.items_of(uow.session, [v.id for v in vendor_orders])
    infos = await vendors.vendor_infos(uow, sorted({v.vendor_id for v in vendor_orders}))
    return Paid(order, vendor_orders, items, facts, facts.succeeded_at or order.paid_at, infos)


async def customer_locale(uow: UnitOfWork, order: Order) -> str:
    """The customer's own locale, else the checkout's Accept-Language, else English."""
    customer = await identity.user_summary(uow, order.customer_id)
    return choose_locale(customer.locale if customer else None, order.language)


async def vendor_locales(uow: UnitOfWork, paid: Paid, vendor_ids: Sequence[str]) -> dict[str, str]:
    """Per vendor: the owner's own locale, else the vendor country's first official
    language, else English: a statement is read by the vendor, not by the customer."""
    owner_locales = await identity.owner_locales(uow, vendor_ids)
    locales = {}
    for vendor_id in vendor_ids:
        info = paid.vendors.get(vendor_id)
        country_languages: Sequence[str] = (
            get_official_languages(info.country, de_facto=True) if info else ()
        )
        locales[vendor_id] = choose_locale(owner_locales.get(vendor_id), *country_languages)
    return locales


def _line(item: OrderItem) -> DocumentLine:
    return DocumentLine(
        title=item.title,
        sku=item.sku,
        quantity=item.quantity,
        unit_price=item.unit_price_amount,
        amount=item.subtotal_amount,
        commission=item.commission_amount,
        commission_rate_bps=item.commission_rate_bps,
    )


def _vendor_name(paid: Paid, vendor_id: str) -> str:
    info = paid.vendors.get(vendor_id)
    return info.name if info is not None else vendor_id


_THREADS = Renderer()


async def receipt_pdf(
    paid: Paid,
    *,
    locale: str,
    marketplace: str,
    layout: Layout,
    renderer: Renderer | None = None,
) -> bytes:
    order = paid.order
    sections = [
        VendorSection(
            vendor_name=_vendor_name(paid, v.vendor_id),
            vendor_order_id=v.id,
            lines=[_line(i) for i in paid.items if i.vendor_order_id == v.id],
            subtotal=v.subtotal_amount,
            discount=v.discount_amount,
            shipping=v.shipping_amount,
            shipping_method=v.shipping_option_name,
            tax=v.tax_amount,
            total=v.total_amount,
        )
        for v in paid.vendor_orders
    ]
    data = ReceiptData(
        marketplace_name=marketplace,
        number=receipt_number(order.id),
        order_id=order.id,
        issued_at=paid.paid_at,
        locale=locale,
        currency=order.currency,
        address=address_lines(order.shipping_address),
        vendors=sections,
        subtotal=order.subtotal_amount,
        discount=order.discount_amount,
        shipping=order.shipping_amount,
        tax=order.tax_amount,
        total=order.total_amount,
        payment_provider=paid.facts.provider,
        payment_status=payment_status(
            captured=paid.facts.captured_amount, refunded=paid.facts.refunded_amount
        ),
        paid_at=paid.paid_at,
        amount_paid=paid.facts.captured_amount,
    )
    # Layout and font subsetting are CPU work: keep the event loop serving other requests.
    return await (renderer or _THREADS).render(render_receipt, data, layout=layout)


async def statement_pdf(
    paid: Paid,
    vendor_order: VendorOrder,
    *,
    locale: str,
    marketplace: str,
    layout: Layout,
    renderer: Renderer | None = None,
) -> bytes:
    # The split as the ledger booked it; the order's own snapshot if payments has no share.
    share = paid.facts.shares.get(vendor_order.id)
    commission = share.commission if share else vendor_order.commission_amount
    commission_tax = share.commission_tax if share else 0
    platform_discount = share.platform_discount if share else vendor_order.platform_discount_amount
    data = StatementData(
        marketplace_name=marketplace,
        number=statement_number(vendor_order.id),
        order_id=vendor_order.order_id,
        vendor_order_id=vendor_order.id,
        vendor_name=_vendor_name(paid, vendor_order.vendor_id),
        issued_at=paid.paid_at,
        locale=locale,
        currency=vendor_order.currency,
        lines=[_line(i) for i in paid.items if i.vendor_order_id == vendor_order.id],
        subtotal=vendor_order.subtotal_amount,
        discount=vendor_order.discount_amount,
        shipping=vendor_order.shipping_amount,
        tax=vendor_order.tax_amount,
        gross=vendor_order.total_amount,
        commission=commission,
        commission_tax=commission_tax,
        platform_discount=platform_discount,
        earnings=earnings(
            gross=vendor_order.total_amount,
            tax=vendor_order.tax_amount,
            commission=commission,
            commission_tax=commission_tax,
            platform_discount=platform_discount,
        ),
    )
    return await (renderer or _THREADS).render(render_statement, data, layout=layout)
