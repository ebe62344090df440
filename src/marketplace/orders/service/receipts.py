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
backup) is rendered again from the same data in the recorded language and layout
(`receipt_pdf.Layout`: documents issued before a layout change keep theirs) and put back
when its SHA-256 matches the record; otherwise the download answers 503
`document_unavailable` rather than serving a document that differs from the one issued.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from weakref import WeakKeyDictionary

from marketplace.orders.domain.receipt import DocumentKind, receipt_number, statement_number
from marketplace.orders.domain.receipt_pdf import LAYOUT, Layout
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
    vendor_locales,
)
from marketplace.orders.service.rendering import Renderer
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
    renderer: Renderer = field(default_factory=Renderer)


# Handlers and routes have a unit of work: they find the storage and the marketplace's name
# through its database, bound once per container (payments' `bind_gateways` idea).
_bound: WeakKeyDictionary[Database, DocumentSettings] = WeakKeyDictionary()


def bind_documents(db: Database, settings: DocumentSettings) -> None:
    """Called by the composition root once the container's storage exists."""
    _bound[db] = settings


def close_documents(db: Database) -> None:
    """Stop what the documents bound to `db` started (their renderer processes)."""
    bound = _bound.pop(db, None)
    if bound is not None:
        bound.renderer.close()


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
    # One read of what is issued already: a redelivered event stops here.
    existing = {
        (d.kind, d.subject_id): d for d in await docs.documents_of_order(uow.session, order.id)
    }
    missing = [v for v in paid.vendor_orders if ("vendor_statement", v.id) not in existing]
    receipt_missing = ("receipt", order.id) not in existing
    if receipt_missing or missing:
        on_record = await _issue(uow, paid, receipt=receipt_missing, statements_of=missing)
        existing = on_record | existing
    return [existing[("receipt", order.id)]] + [
        existing[("vendor_statement", v.id)] for v in paid.vendor_orders
    ]


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
    return (await _issue(uow, paid, receipt=True, statements_of=[]))[("receipt", order.id)]


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
    on_record = await _issue(uow, paid, receipt=False, statements_of=[vendor_order])
    return on_record[("vendor_statement", vendor_order.id)]


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
    try:
        layout = Layout(document.layout)
    except ValueError:  # recorded by a later version of this code: not ours to render
        return None
    order = await repo.order(uow.session, document.order_id)
    paid = None if order is None else await paid_order(uow, order)
    if paid is None:
        return None
    bound = documents_for(uow)
    marketplace, renderer = bound.marketplace_name, bound.renderer
    if document.kind == "receipt":
        return await receipt_pdf(
            paid,
            locale=document.language,
            marketplace=marketplace,
            layout=layout,
            renderer=renderer,
        )
    vendor_order = next((v for v in paid.vendor_orders if v.id == document.vendor_order_id), None)
    if vendor_order is None:
        return None
    return await statement_pdf(
        paid,
        vendor_order,
        locale=document.language,
        marketplace=marketplace,
        layout=layout,
        renderer=renderer,
    )


# --- issuing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rendered:
    """A document rendered for recording: receipt (vendor_order None) or statement."""

    kind: DocumentKind
    vendor_order: VendorOrder | None
    number: str
    locale: str
    layout: Layout
    pdf: bytes


async def _issue(
    uow: UnitOfWork, paid: Paid, *, receipt: bool, statements_of: list[VendorOrder]
) -> dict[tuple[str, str], Document]:
    """Render the order's receipt (if `receipt`) and the statements of `statements_of`,
    record them once, and tell notifications about those this call issued. The order's
    documents now on record, by (kind, subject)."""
    order = paid.order
    bound = documents_for(uow)
    marketplace, renderer = bound.marketplace_name, bound.renderer
    rendered = []
    if receipt:
        locale = await customer_locale(uow, order)
        pdf = await receipt_pdf(
            paid, locale=locale, marketplace=marketplace, layout=LAYOUT, renderer=renderer
        )
        number = receipt_number(order.id)
        rendered.append(_Rendered("receipt", None, number, locale, LAYOUT, pdf))
    if statements_of:
        locales = await vendor_locales(uow, paid, [v.vendor_id for v in statements_of])
        for vendor_order in statements_of:
            locale = locales[vendor_order.vendor_id]
            pdf = await statement_pdf(
                paid,
                vendor_order,
                locale=locale,
                marketplace=marketplace,
                layout=LAYOUT,
                renderer=renderer,
            )
            number = statement_number(vendor_order.id)
            rendered.append(
                _Rendered("vendor_statement", vendor_order, number, locale, LAYOUT, pdf)
            )
    on_record = await _record(uow, order, rendered)
    for document in rendered:
        recorded, issued = on_record[document.kind, _subject(order, document)]
        if issued:
            uow.publish(_issued_event(order, document, recorded))
    return {key: recorded for key, (recorded, _) in on_record.items()}


def _subject(order: Order, document: _Rendered) -> str:
    return document.vendor_order.id if document.vendor_order is not None else order.id


def _issued_event(
    order: Order, document: _Rendered, recorded: Document
) -> ReceiptIssued | VendorStatementIssued:
    vendor_order = document.vendor_order
    if vendor_order is None:
        return ReceiptIssued(
            order_id=order.id,
            customer_id=order.customer_id,
            storage_key=recorded.storage_key,
            filename=recorded.filename,
            language=document.locale,
        )
    return VendorStatementIssued(
        vendor_order_id=vendor_order.id,
        order_id=vendor_order.order_id,
        vendor_id=vendor_order.vendor_id,
        storage_key=recorded.storage_key,
        filename=recorded.filename,
        language=document.locale,
    )


async def _record(
    uow: UnitOfWork, order: Order, rendered: list[_Rendered]
) -> dict[tuple[str, str], tuple[Document, bool]]:
    """Store the PDFs and record each once; every document of the order now on record, by
    (kind, subject), with whether this call issued it (False when another delivery or
    download did first, or for documents not in `rendered`)."""
    storage = documents_for(uow).storage
    rows: list[dict[str, Any]] = []
    for document in rendered:
        subject_id = _subject(order, document)
        sha256 = hashlib.sha256(document.pdf).hexdigest()
        key = f"{PRIVATE_PREFIX}orders/{document.kind}/{subject_id}/{sha256}.pdf"
        await storage.put(key, document.pdf, PDF)
        vendor_order = document.vendor_order
        rows.append(
            {
                "id": new_id("doc"),
                "kind": document.kind,
                "subject_id": subject_id,
                "order_id": order.id,
                "vendor_order_id": vendor_order.id if vendor_order is not None else None,
                "vendor_id": vendor_order.vendor_id if vendor_order is not None else None,
                "customer_id": order.customer_id,
                "number": document.number,
                "storage_key": key,
                "filename": f"{document.number}.pdf",
                "content_type": PDF,
                "language": document.locale,
                "layout": int(document.layout),
                "currency": order.currency,
                "size_bytes": len(document.pdf),
                "sha256": sha256,
                "created_at": utcnow(),
            }
        )
    if rows:
        await docs.add_once(uow.session, rows)
    ours = {(row["kind"], row["subject_id"]): row for row in rows}
    on_record = {}
    for found in await docs.documents_of_order(uow.session, order.id):
        row = ours.get((found.kind, found.subject_id))
        issued = row is not None and found.id == row["id"]
        if row is not None and not issued and found.storage_key != row["storage_key"]:
            uow.after_commit(_remover(storage, row["storage_key"]))
        on_record[found.kind, found.subject_id] = (found, issued)
    return on_record


def _remover(storage: Storage, key: str) -> Callable[[], Awaitable[None]]:
    """Removes an object this call stored for a document another writer recorded first."""

    async def remove_ours() -> None:
        await storage.delete(key)

    return remove_ours
