"""Issued documents' rows on a real database (built by the migrations)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.orders.repository import document as docs
from marketplace.platform.clock import utcnow


async def test_a_document_recorded_without_its_layout_is_one_of_exact_glyph_subsets(
    session: AsyncSession,
) -> None:
    """What the previous version records while a deployment rolls out (and what every row
    issued before layouts were recorded is): exact glyph subsets, layout 1."""
    await docs.add_once(
        session,
        [
            {
                "id": "doc_1", "kind": "receipt", "subject_id": "ord_1", "order_id": "ord_1",
                "vendor_order_id": None, "vendor_id": None, "customer_id": "usr_1",
                "number": "R-1", "storage_key": "private/orders/receipt/ord_1/0.pdf",
                "filename": "R-1.pdf", "content_type": "application/pdf", "language": "en",
                "currency": "EUR", "size_bytes": 1, "sha256": "0" * 64, "created_at": utcnow(),
            }
        ],
    )  # fmt: skip

    (recorded,) = await docs.documents_of_order(session, "ord_1")

    assert (recorded.id, recorded.layout) == ("doc_1", 1)
