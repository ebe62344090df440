"""Document downloads: the customer's receipt of an order and a vendor's statement of its
vendor order, as PDF. Issued on first download if the subscriber has not done it yet."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Response

from marketplace.identity.public import CurrentUser
from marketplace.orders.api.orders import _visible_order
from marketplace.orders.api.vendor_orders import BASE, OrderReader
from marketplace.orders.errors import VendorOrderNotFound
from marketplace.orders.models.document import Document
from marketplace.orders.repository import order as repo
from marketplace.orders.service import receipts
from marketplace.platform.http import UoW

router = APIRouter()

_PDF_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "the PDF (`Content-Disposition` names the file)",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    },
    503: {"description": "`document_unavailable`: the stored PDF is lost and not reproducible"},
}


def _pdf(document: Document, body: bytes) -> Response:
    return Response(
        content=body,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f'inline; filename="{document.filename}"',
            "Cache-Control": "private, no-store",
            "ETag": f'"{document.sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/orders/{oid}/receipt",
    tags=["orders"],
    summary="The order's receipt (PDF), in the customer's language and the order's currency",
    response_class=Response,
    responses={
        **_PDF_RESPONSE,
        404: {"description": "`order_not_found`: no such order, or not the caller's"},
        409: {"description": "`receipt_not_available`: the order was never paid (`order_status`)"},
    },
)
async def get_receipt(oid: str, uow: UoW, principal: CurrentUser) -> Response:
    order = await _visible_order(uow, oid, principal)
    document = await receipts.receipt(uow, order=order)
    return _pdf(document, await receipts.content(uow, document))


@router.get(
    BASE + "/{void}/statement",
    tags=["vendor orders"],
    summary="The vendor's statement of one vendor order (PDF): lines, commission, earnings",
    response_class=Response,
    responses={
        **_PDF_RESPONSE,
        404: {"description": "`vendor_order_not_found`: not one of this vendor's orders"},
        409: {"description": "`statement_not_available`: never paid (`vendor_order_status`)"},
    },
)
async def get_statement(void: str, uow: UoW, access: OrderReader) -> Response:
    vendor_order = await repo.vendor_order(uow.session, void, vendor_id=access.vendor_id)
    if vendor_order is None:
        raise VendorOrderNotFound()
    document = await receipts.statement(uow, vendor_order=vendor_order)
    return _pdf(document, await receipts.content(uow, document))
