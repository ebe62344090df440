"""Issued documents: the customer's receipt of a paid order and each vendor's statement of
its vendor order, as PDFs kept in private storage (never under a public media URL).

One row per (kind, subject): the subject is the order for a receipt, the vendor order for a
statement. The unique index is what makes issuing at most once: a redelivered event or a
concurrent first download inserts nothing the second time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class Document(Base):
    __tablename__ = "orders_document"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # receipt | vendor_statement
    subject_id: Mapped[str] = mapped_column(String(40))  # order id | vendor order id
    order_id: Mapped[str] = mapped_column(String(40))
    vendor_order_id: Mapped[str | None] = mapped_column(String(40))
    vendor_id: Mapped[str | None] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(40))
    storage_key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(60))
    language: Mapped[str] = mapped_column(String(16))  # the locale it was written in
    # How it was rendered (`receipt_pdf.Layout`), to render it again to the same bytes. The
    # default is the layout of the documents issued before it was recorded, and of those a
    # process of that version still issues while a deployment rolls out.
    layout: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    currency: Mapped[str] = mapped_column(String(3))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("uq_orders_document_subject", "kind", "subject_id", unique=True),
        Index("ix_orders_document_order", "order_id"),
        CheckConstraint("kind IN ('receipt', 'vendor_statement')", name="kind"),
        CheckConstraint(
            "(kind = 'receipt' AND vendor_order_id IS NULL AND subject_id = order_id) OR "
            "(kind = 'vendor_statement' AND vendor_order_id IS NOT NULL "
            "AND subject_id = vendor_order_id)",
            name="subject",
        ),
    )
