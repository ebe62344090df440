"""Products and their variants, and the catalog's view of which vendors may be listed.

`visible` is the one flag browse filters on (active, not deleted, vendor approved); it is
kept current by the product service and by handlers of vendor and inventory events, so
browse never joins another context. Prices live on variants (integer minor units in the
vendor's currency); the product keeps its cheapest and dearest variant price for sorting
and filtering.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class VendorListing(Base):
    """Whether a vendor's products may be shown: a projection of the vendors context."""

    __tablename__ = "catalog_vendor_listing"

    vendor_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(50))
    listable: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]


class Product(Base):
    __tablename__ = "catalog_product"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    category_id: Mapped[str] = mapped_column(ForeignKey("catalog_category.id"))
    category_path: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10))  # draft | active | archived
    language: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3))
    min_price_amount: Mapped[int] = mapped_column(Integer)
    max_price_amount: Mapped[int] = mapped_column(Integer)
    in_stock: Mapped[bool] = mapped_column(Boolean)
    visible: Mapped[bool] = mapped_column(Boolean)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    # Average stars x 100, so sorting by rating is an integer index scan.
    rating_score: Mapped[int] = mapped_column(Integer, default=0)
    search_document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_catalog_product_browse_newest", "visible", "created_at", "id"),
        Index("ix_catalog_product_browse_price", "visible", "currency", "min_price_amount", "id"),
        Index("ix_catalog_product_browse_rating", "visible", "rating_score", "id"),
        Index("ix_catalog_product_category_path", "category_path", "visible"),
        Index("ix_catalog_product_vendor", "vendor_id", "created_at", "id"),
    )


class Variant(Base):
    __tablename__ = "catalog_variant"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("catalog_product.id"), index=True)
    vendor_id: Mapped[str] = mapped_column(String(40))
    sku: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    price_amount: Mapped[int] = mapped_column(Integer)
    price_currency: Mapped[str] = mapped_column(String(3))
    # {"GBP": 1799}: a price the vendor sets for buyers paying in that currency.
    regional_prices: Mapped[dict[str, int]] = mapped_column(JSON)
    in_stock: Mapped[bool] = mapped_column(Boolean)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    __table_args__ = (
        # SKUs are unique per vendor among live variants; a deleted one frees its SKU.
        Index(
            "uq_catalog_variant_vendor_sku",
            "vendor_id",
            "sku",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )
