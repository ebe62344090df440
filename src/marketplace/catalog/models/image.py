"""Product images: one row per image, pointing at objects in the platform's file storage.

The row keeps the storage keys (the cleaned original and one WebP thumbnail per size) and,
so that reading a product never needs the storage backend, the public URLs computed when
the objects were written. `status` is "pending" while a presigned direct upload has not been
confirmed, "processing" until the thumbnail job ran, then "ready"; only processing and ready
images are shown.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class ProductImage(Base):
    __tablename__ = "catalog_product_image"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("catalog_product.id"))
    vendor_id: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(1000))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    alt_text: Mapped[str | None] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer)
    # {"200": key, "800": key}, and the same sizes mapped to their public URLs.
    thumbnails: Mapped[dict[str, str]] = mapped_column(JSON)
    thumbnail_urls: Mapped[dict[str, str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))  # pending | processing | ready
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_catalog_product_image_product", "product_id", "position", "id"),
        # The hourly purge looks for old pending (never confirmed) uploads.
        Index("ix_catalog_product_image_status", "status", "created_at"),
    )
