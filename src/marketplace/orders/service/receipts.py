"""Issuing receipts and vendor statements: gather the order's snapshots and the payment's
facts, render the PDF (`domain/receipt_pdf.py`), keep it in private storage, record it once,
and tell the notifications context (`ReceiptIssued`, `VendorStatementIssued`).

When: the `OrderPlaced` subscriber issues all of an order's documents right after it is
paid; a download that finds its document missing (the subscriber has not run yet, or the
order was paid before documents existed) issues it on the spot with the same function. The
unique (kind, subject) row decides who issued it: only that caller publishes the event, so
the customer gets one e-mail whichever path came first, and a redelivered event renders
nothing new (the existing row is found before anything is rendered).

Storage: `private/orders/<kind>/<subject>/<sha256>.pdf`. The bytes are written before the row
is inserted, under a key named by their hash: a rolled-back transaction leaves at most an
unreferenced object (the same key and bytes when retried, as rendering is deterministic),
never a row pointing at nothing. A writer that lost the race removes its own object after
commit if it differs from the winner's.

Refunds do not change a receipt: it records what was paid and when, and stays the document
the customer was sent. Refunds are documented by credit notes (a later addition; until
then the order's refunds are in `GET /v1/orders/{oid}`). A receipt issued after a refund
(on a late first download) says "partially refunded" / "refunded" in its payment status.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from weakref import WeakKeyDictionary

from babel.languages import get_official_languages

from marketplace.identity import public as identity
from marketplace.orders.domain.receipt import (
    DocumentKind,
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
from marketplace.orders.domain.receipt_pdf import render_receipt, render_statement
from marketplace.orders.errors import ReceiptNotAvailable, StatementNotAvailable
from marketplace.orders.events import ReceiptIssued, VendorStatementIssued
from marketplace.orders.models.document import Document
from marketplace.orders.models.order import Order, OrderItem, VendorOrder
from marketplace.orders.repository import document as docs
from marketplace.orders.repository import order as repo
from marketplace.payments import public as payments
from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database
from marketplace.platform.ids import new_id
from marketplace.platform.storage import PRIVATE_PREFIX, Storage
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

PDF: Final = "application/pdf"
MAX_DOCUMENT_BYTES: Final = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DocumentSettings:
    storage: Storage
    marketplace_name: str


# Handlers and routes have a unit of work: they find the storage and the marketplace's name
# through its database, bound once per container (payments' `bind_gateways` idea).
_bound: WeakKeyDictionary[Database, DocumentSettings] = WeakKeyDictionary()


def bind_documents(db: Database, settings: DocumentSettings) -> None:
    """Called by the composition root once the container's storage exists."""
    _bound[db] = settings


def documents_for(uow: UnitOfWork) -> DocumentSettings:
    try:
        return _bound[uow.db]
    except KeyError:
        raise RuntimeError("no document storage bound to this database") from None


@dataclass(frozen=True, slots=True)
class _Paid:
    order: Order
    vendor_orders: list[VendorOrder]
    items: list[OrderItem]
    facts: payments.PaymentFacts
    paid_at: datetime


async def _paid_order(uow: UnitOfWork, order: Order) -> _Paid | None:
    """The order with its parts and payment, or None if it was never paid."""
    if order.paid_at is None or order.payment_status != "succeeded":
        return None
    facts = await payments.payment_facts(uow, order.id)
    if facts is None or facts.status != "succeeded":
        return None
    vendor_orders = await repo.vendor_orders_of(uow.session, [order.id])
    items = await repo.items_of(uow.session, [v.id for v in vendor_orders])
    return _Paid(order, vendor_orders, items, facts, facts.succeeded_at or order.paid_at)


async def issue_documents(uow: UnitOfWork, *, order_id: str) -> list[Document]:
    """Every document of a paid order: its receipt and one statement per vendor order.
    Those already issued are returned as they are; an unpaid order has none."""
    order = await repo.order(uow.session, order_id)
    if order is None:
        return []
    paid = await _paid_order(uow, order)
    if paid is None:
        return []
    issued = [await _receipt(uow, paid)]
    for vendor_order in paid.vendor_orders:
        issued.append(await _statement(uow, paid, vendor_order))
    return issued


async def receipt(uow: UnitOfWork, *, order: Order) -> Document:
    """The order's receipt, issued now if it was not yet; 409 if the order was never paid."""
    existing = await docs.document(uow.session, kind="receipt", subject_id=order.id)
    if existing is not None:
        return existing
    paid = await _paid_order(uow, order)
    if paid is None:
        raise ReceiptNotAvailable(
            f"order {order.id} is {order.status}: receipts exist for paid orders only",
            status=order.status,
        )
    return await _receipt(uow, paid)


async def statement(uow: UnitOfWork, *, vendor_order: VendorOrder) -> Document:
    """The vendor order's statement, issued now if it was not yet; 409 if never paid."""
    existing = await docs.document(uow.session, kind="vendor_statement", subject_id=vendor_order.id)
    if existing is not None:
        return existing
    order = await repo.order(uow.session, vendor_order.order_id)
    paid = None if order is None else await _paid_order(uow, order)
    if paid is None:
        raise StatementNotAvailable(
            f"vendor order {vendor_order.id} is {vendor_order.status}: "
            "statements exist for paid orders only",
            status=vendor_order.status,
        )
    return await _statement(uow, paid, vendor_order)


async def content(uow: UnitOfWork, document: Document) -> bytes:
    """The stored PDF."""
    return await documents_for(uow).storage.get(document.storage_key, max_bytes=MAX_DOCUMENT_BYTES)


# --- issuing -----------------------------------------------------------------------------


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


async def _vendor_name(uow: UnitOfWork, vendor_id: str) -> str:
    info = await vendors.vendor_info(uow, vendor_id)
    return info.name if info is not None else vendor_id


async def _receipt(uow: UnitOfWork, paid: _Paid) -> Document:
    order = paid.order
    existing = await docs.document(uow.session, kind="receipt", subject_id=order.id)
    if existing is not None:
        return existing
    customer = await identity.user_summary(uow, order.customer_id)
    locale = choose_locale(customer.locale if customer else None, order.language)
    sections = []
    for v in paid.vendor_orders:
        sections.append(
            VendorSection(
                vendor_name=await _vendor_name(uow, v.vendor_id),
                vendor_order_id=v.id,
                lines=[_line(i) for i in paid.items if i.vendor_order_id == v.id],
                subtotal=v.subtotal_amount,
                discount=v.discount_amount,
                shipping=v.shipping_amount,
                shipping_method=v.shipping_option_name,
                tax=v.tax_amount,
                total=v.total_amount,
            )
        )
    data = ReceiptData(
        marketplace_name=documents_for(uow).marketplace_name,
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
    pdf = await asyncio.to_thread(render_receipt, data)
    document, issued = await _record(
        uow,
        kind="receipt",
        order=order,
        vendor_order=None,
        number=data.number,
        locale=locale,
        pdf=pdf,
    )
    if issued:
        uow.publish(
            ReceiptIssued(
                order_id=order.id,
                customer_id=order.customer_id,
                storage_key=document.storage_key,
                filename=document.filename,
                language=locale,
            )
        )
    return document


async def _vendor_locale(uow: UnitOfWork, vendor_id: str) -> str:
    """The owner's own locale, else the vendor country's first official language, else
    English: a statement is read by the vendor, not by the customer."""
    owner_locale = next(
        (u.locale for u, role in await identity.vendor_members(uow, vendor_id) if role == "owner"),
        None,
    )
    info = await vendors.vendor_info(uow, vendor_id)
    country_languages: Sequence[str] = (
        get_official_languages(info.country, de_facto=True) if info else ()
    )
    return choose_locale(owner_locale, *country_languages)


async def _statement(uow: UnitOfWork, paid: _Paid, vendor_order: VendorOrder) -> Document:
    existing = await docs.document(uow.session, kind="vendor_statement", subject_id=vendor_order.id)
    if existing is not None:
        return existing
    share = paid.facts.shares.get(vendor_order.id)
    commission_tax = share.commission_tax if share else 0
    platform_discount = share.platform_discount if share else vendor_order.platform_discount_amount
    commission = share.commission if share else vendor_order.commission_amount
    locale = await _vendor_locale(uow, vendor_order.vendor_id)
    data = StatementData(
        marketplace_name=documents_for(uow).marketplace_name,
        number=statement_number(vendor_order.id),
        order_id=vendor_order.order_id,
        vendor_order_id=vendor_order.id,
        vendor_name=await _vendor_name(uow, vendor_order.vendor_id),
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
    pdf = await asyncio.to_thread(render_statement, data)
    document, issued = await _record(
        uow,
        kind="vendor_statement",
        order=paid.order,
        vendor_order=vendor_order,
        number=data.number,
        locale=locale,
        pdf=pdf,
    )
    if issued:
        uow.publish(
            VendorStatementIssued(
                vendor_order_id=vendor_order.id,
                order_id=vendor_order.order_id,
                vendor_id=vendor_order.vendor_id,
                storage_key=document.storage_key,
                filename=document.filename,
                language=locale,
            )
        )
    return document


async def _record(
    uow: UnitOfWork,
    *,
    kind: DocumentKind,
    order: Order,
    vendor_order: VendorOrder | None,
    number: str,
    locale: str,
    pdf: bytes,
) -> tuple[Document, bool]:
    """Store the PDF and record it once; the document now on record and whether this call
    issued it (False when another delivery or download did first)."""
    storage = documents_for(uow).storage
    subject_id = vendor_order.id if vendor_order is not None else order.id
    sha256 = hashlib.sha256(pdf).hexdigest()
    key = f"{PRIVATE_PREFIX}orders/{kind}/{subject_id}/{sha256}.pdf"
    await storage.put(key, pdf, PDF)
    row_id = new_id("doc")
    document = await docs.add_once(
        uow.session,
        {
            "id": row_id,
            "kind": kind,
            "subject_id": subject_id,
            "order_id": order.id,
            "vendor_order_id": vendor_order.id if vendor_order is not None else None,
            "vendor_id": vendor_order.vendor_id if vendor_order is not None else None,
            "customer_id": order.customer_id,
            "number": number,
            "storage_key": key,
            "filename": f"{number}.pdf",
            "content_type": PDF,
            "language": locale,
            "currency": order.currency,
            "size_bytes": len(pdf),
            "sha256": sha256,
            "created_at": utcnow(),
        },
    )
    if document.id == row_id:
        return document, True
    if document.storage_key != key:

        async def remove_ours() -> None:
            await storage.delete(key)

        uow.after_commit(remove_ours)
    return document, False
