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

A stored object that went missing (a lost local disk, a bucket restored from an older
backup) is rendered again from the same data in the recorded language and put back when its
SHA-256 matches the record; otherwise the download answers 503 `document_unavailable`
rather than serving a document that differs from the one issued.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Final
from weakref import WeakKeyDictionary

from marketplace.orders.domain.receipt import DocumentKind, receipt_number, statement_number
from marketplace.orders.errors import (
    DocumentUnavailable,
    ReceiptNotAvailable,
    StatementNotAvailable,
)
from marketplace.orders.events import ReceiptIssued, VendorStatementIssued
from marketplace.orders.models.document import Document
from marketplace.orders.models.order import Order, VendorOrder
from marketplace.orders.repository import document as docs
from marketplace.orders.repository import order as repo
from marketplace.orders.service.receipt_data import (
    Paid,
    customer_locale,
    paid_order,
    receipt_pdf,
    statement_pdf,
    vendor_locale,
)
from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database
from marketplace.platform.ids import new_id
from marketplace.platform.storage import PRIVATE_PREFIX, ObjectNotFound, Storage
from marketplace.platform.uow import UnitOfWork

logger = logging.getLogger(__name__)

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


async def issue_documents(uow: UnitOfWork, *, order_id: str) -> list[Document]:
    """Every document of a paid order: its receipt and one statement per vendor order.
    Those already issued are returned as they are; an unpaid order has none."""
    order = await repo.order(uow.session, order_id)
    if order is None:
        return []
    paid = await paid_order(uow, order)
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
    paid = await paid_order(uow, order)
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
    paid = None if order is None else await paid_order(uow, order)
    if paid is None:
        raise StatementNotAvailable(
            f"vendor order {vendor_order.id} is {vendor_order.status}: "
            "statements exist for paid orders only",
            status=vendor_order.status,
        )
    return await _statement(uow, paid, vendor_order)


async def content(uow: UnitOfWork, document: Document) -> bytes:
    """The stored PDF; restored from the same data if the object went missing."""
    storage = documents_for(uow).storage
    try:
        return await storage.get(document.storage_key, max_bytes=MAX_DOCUMENT_BYTES)
    except ObjectNotFound:
        pass
    pdf = await _render_again(uow, document)
    if pdf is None or hashlib.sha256(pdf).hexdigest() != document.sha256:
        logger.error(
            "stored document missing and not reproducible",
            extra={"document_id": document.id, "storage_key": document.storage_key},
        )
        raise DocumentUnavailable(f"{document.filename} cannot be read right now")
    logger.warning("stored document was missing; restored", extra={"document_id": document.id})
    await storage.put(document.storage_key, pdf, document.content_type)
    return pdf


async def _render_again(uow: UnitOfWork, document: Document) -> bytes | None:
    order = await repo.order(uow.session, document.order_id)
    paid = None if order is None else await paid_order(uow, order)
    if paid is None:
        return None
    marketplace = documents_for(uow).marketplace_name
    if document.kind == "receipt":
        return await receipt_pdf(uow, paid, locale=document.language, marketplace=marketplace)
    vendor_order = next((v for v in paid.vendor_orders if v.id == document.vendor_order_id), None)
    if vendor_order is None:
        return None
    return await statement_pdf(
        uow, paid, vendor_order, locale=document.language, marketplace=marketplace
    )


# --- issuing -----------------------------------------------------------------------------


async def _receipt(uow: UnitOfWork, paid: Paid) -> Document:
    order = paid.order
    existing = await docs.document(uow.session, kind="receipt", subject_id=order.id)
    if existing is not None:
        return existing
    locale = await customer_locale(uow, order)
    pdf = await receipt_pdf(
        uow, paid, locale=locale, marketplace=documents_for(uow).marketplace_name
    )
    document, issued = await _record(
        uow,
        kind="receipt",
        order=order,
        vendor_order=None,
        number=receipt_number(order.id),
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


async def _statement(uow: UnitOfWork, paid: Paid, vendor_order: VendorOrder) -> Document:
    existing = await docs.document(uow.session, kind="vendor_statement", subject_id=vendor_order.id)
    if existing is not None:
        return existing
    locale = await vendor_locale(uow, vendor_order.vendor_id)
    pdf = await statement_pdf(
        uow, paid, vendor_order, locale=locale, marketplace=documents_for(uow).marketplace_name
    )
    document, issued = await _record(
        uow,
        kind="vendor_statement",
        order=paid.order,
        vendor_order=vendor_order,
        number=statement_number(vendor_order.id),
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
