"""Cart bodies: what shoppers send, and the cart they read (with live prices and stock)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from marketplace.orders.domain.cart import MAX_QUANTITY
from marketplace.platform.money import MoneySchema

Quantity = Field(ge=1, le=MAX_QUANTITY, description=f"units, 1 to {MAX_QUANTITY} per line")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CartItemAdd(Strict):
    """One of `variant_id`, or `sku` with the `vendor_id` that sells it."""

    variant_id: str | None = Field(default=None, min_length=1, max_length=40)
    sku: str | None = Field(default=None, min_length=1, max_length=64)
    vendor_id: str | None = Field(default=None, min_length=1, max_length=40)
    quantity: int = Quantity


class CartItemPatch(Strict):
    quantity: int = Quantity


class CouponApply(Strict):
    code: str = Field(min_length=1, max_length=64)


class CartItemRead(BaseModel):
    id: str
    variant_id: str
    product_id: str | None
    vendor_id: str | None
    sku: str | None
    title: str | None = Field(description="null when the variant no longer exists")
    quantity: int
    unit_price: MoneySchema | None = Field(description="the variant's current price")
    line_total: MoneySchema | None
    available: int = Field(description="units that can be bought right now")
    in_stock: bool
    purchasable: bool = Field(description="listed for sale (active product, approved vendor)")
    problems: list[Literal["not_purchasable", "out_of_stock", "insufficient_stock"]] = Field(
        description="what would stop this line at checkout; empty when it can be bought"
    )


class VendorGroupRead(BaseModel):
    vendor_id: str | None
    items: list[CartItemRead]
    totals: list[MoneySchema] = Field(description="per currency")


class CartRead(BaseModel):
    id: str
    status: Literal["open", "merged", "converted"]
    guest: bool
    items: list[CartItemRead]
    vendors: list[VendorGroupRead] = Field(description="the items grouped by vendor")
    totals: list[MoneySchema] = Field(description="sum of line totals, one per currency")
    item_count: int = Field(description="units across all lines")
    order_id: str | None = None
    merged_into_id: str | None = None
    created_at: datetime
    updated_at: datetime


class CartCreated(CartRead):
    token: str | None = Field(
        default=None,
        description=(
            "a guest cart's secret, shown only in this response: send it as X-Cart-Token on "
            "every call about this cart"
        ),
    )
