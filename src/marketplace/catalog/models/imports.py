"""Bulk product imports: the import resource with its progress and row errors, the uploaded
file kept as ordered chunks until the import finished, and which image URLs were already
fetched for which product.

The file lives in the database rather than in file storage: it is written in the same
transaction as the import row (no orphan either way), any worker process can read it back
in chunks (no shared disk needed), and it is deleted when the import is done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class ProductImport(Base):
    __tablename__ = "catalog_product_import"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))  # queued | running | succeeded | failed
    dry_run: Mapped[bool] = mapped_column(Boolean)
    filename: Mapped[str | None] = mapped_column(String(200))
    file_bytes: Mapped[int] = mapped_column(Integer)
    file_chunks: Mapped[int] = mapped_column(Integer)
    # Data rows (blank rows not counted), known once the job has read the file through.
    total_rows: Mapped[int | None] = mapped_column(Integer)
    # Also the job's checkpoint: rows up to here are committed together with this count.
    processed_rows: Mapped[int] = mapped_column(Integer)
    created_rows: Mapped[int] = mapped_column(Integer)
    updated_rows: Mapped[int] = mapped_column(Integer)
    failed_rows: Mapped[int] = mapped_column(Integer)
    # [{"row", "column", "message"}], the first ERRORS_KEPT of `error_count`.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    error_count: Mapped[int] = mapped_column(Integer)
    # Who started it, so the job acts (stock log, audit, images) in their name.
    created_by: Mapped[str] = mapped_column(String(64))
    created_by_kind: Mapped[str] = mapped_column(String(10))  # user | api_key
    created_by_role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_catalog_product_import_vendor", "vendor_id", "created_at"),)


class ProductImportChunk(Base):
    """One piece (at most CHUNK_BYTES) of an uploaded file, in order of `seq`."""

    __tablename__ = "catalog_product_import_chunk"

    import_id: Mapped[str] = mapped_column(
        ForeignKey("catalog_product_import.id"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportedImage(Base):
    """An image URL already fetched into a product: re-importing the same file (or a retried
    fetch job) does not add the image twice."""

    __tablename__ = "catalog_product_import_image"

    product_id: Mapped[str] = mapped_column(ForeignKey("catalog_product.id"), primary_key=True)
    url_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the URL
    image_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
