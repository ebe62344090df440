"""Product and variant bodies: what vendors send and what shoppers and vendors read."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from marketplace.platform.money import MoneySchema


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Translation(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20000)


class InventoryIn(Strict):
    quantity: int = Field(ge=0, le=10_000_000)
    low_stock_threshold: int = Field(default=0, ge=0, le=1_000_000)


class VariantIn(Strict):
    id: str | None = Field(default=None, max_length=40, description="to update an existing variant")
    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=20)
    price: MoneySchema
    regional_prices: dict[str, int] = Field(default_factory=dict, max_length=50)
    inventory: InventoryIn | None = None


class ProductCreate(Strict):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20000)
    category_id: str = Field(min_length=1, max_length=40)
    language: str = Field(default="en", min_length=2, max_length=12)
    translations: dict[str, Translation] = Field(default_factory=dict, max_length=50)
    status: Literal["draft", "active", "archived"] = "draft"
    variants: list[VariantIn] = Field(min_length=1, max_length=100)


class ProductPatch(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20000)
    category_id: str | None = Field(default=None, min_length=1, max_length=40)
    language: str | None = Field(default=None, min_length=2, max_length=12)
    translations: dict[str, Translation] | None = Field(default=None, max_length=50)
    status: Literal["draft", "active", "archived"] | None = None
    variants: list[VariantIn] | None = Field(default=None, min_length=1, max_length=100)


class VariantRead(BaseModel):
    id: str
    sku: str
    attributes: dict[str, Any]
    price: MoneySchema
    regional_prices: dict[str, int]
    in_stock: bool
    available: int | None = Field(
        default=None, description="units available; shown to the vendor's team only"
    )


class VendorRef(BaseModel):
    id: str
    name: str
    slug: str


class RatingRead(BaseModel):
    average: float | None
    count: int


class ImageRead(BaseModel):
    id: str
    url: str
    thumbnails: dict[str, str]
    alt_text: str | None
    position: int


class ProductSummary(BaseModel):
    id: str
    title: str
    language: str
    vendor: VendorRef
    category_id: str
    price: MoneySchema
    price_max: MoneySchema
    in_stock: bool
    rating: RatingRead
    image: ImageRead | None = None
    created_at: datetime


class ProductRead(BaseModel):
    id: str
    title: str
    description: str
    language: str
    status: str
    vendor: VendorRef
    category_id: str
    variants: list[VariantRead]
    images: list[ImageRead]
    rating: RatingRead
    in_stock: bool
    translations: dict[str, Translation] | None = Field(
        default=None, description="all translations; shown to the vendor's team only"
    )
    created_at: datetime
    updated_at: datetime
