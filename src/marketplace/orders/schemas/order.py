"""Order bodies: checkout, what customers and vendors read, fulfilment and return requests."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from marketplace.platform.money import MoneySchema


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(Strict):
    name: str = Field(min_length=1, max_length=120)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=120)
    region: str | None = Field(default=None, max_length=120)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    phone: str | None = Field(default=None, max_length=40)


class ItemIn(Strict):
    variant_id: str = Field(min_length=1, max_length=40)
    quantity: int = Field(ge=1, le=99)


class PaymentIn(Strict):
    provider: Literal["sandbox", "stripe", "paypal", "razorpay"] = "sandbox"
    payment_method: str = Field(
        min_length=1, max_length=255, description="a payment method token, never card data"
    )


class OrderCreate(Strict):
    cart_id: str | None = Field(default=None, max_length=40)
    items: list[ItemIn] = Field(default_factory=list, max_length=100)
    shipping_address: Address
    shipping_options: dict[str, str] = Field(
        description="vendor id -> shipping option id, one per vendor in the order",
        max_length=100,
    )
    coupon_codes: list[str] = Field(default_factory=list, max_length=10)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    payment: PaymentIn


class Totals(BaseModel):
    subtotal: MoneySchema
    discount: MoneySchema
    shipping: MoneySchema
    tax: MoneySchema
    total: MoneySchema


class OrderItemRead(BaseModel):
    id: str
    variant_id: str
    product_id: str
    sku: str
    title: str
    attributes: dict[str, object]
    quantity: int
    unit_price: MoneySchema
    subtotal: MoneySchema
    discount: MoneySchema
    tax: MoneySchema
    total: MoneySchema
    shipped_quantity: int
    returned_quantity: int


class VendorItemRead(OrderItemRead):
    """What the vendor also sees of its own line: the commission frozen at sale."""

    commission: MoneySchema
    commission_rate_bps: int | None


class ShipmentRead(BaseModel):
    id: str
    carrier: str
    tracking_number: str
    items: list[dict[str, object]]
    shipped_at: datetime
    delivered_at: datetime | None


class VendorOrderRead(BaseModel):
    id: str
    order_id: str
    vendor_id: str
    status: str
    totals: Totals
    refunded: MoneySchema
    shipping_option: dict[str, str]
    items: list[OrderItemRead]
    shipments: list[ShipmentRead]
    placed_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    canceled_at: datetime | None
    cancel_reason: str | None


class VendorViewRead(VendorOrderRead):
    """A vendor's own vendor order: its lines with commission, the customer's address for
    shipping, and nothing of other vendors' parts of the same checkout."""

    items: list[VendorItemRead]  # type: ignore[assignment]
    shipping_address: dict[str, object]
    commission: MoneySchema


class PaymentRead(BaseModel):
    provider: str
    status: str
    failure_code: str | None = None
    failure_message: str | None = None


class OrderRead(BaseModel):
    id: str
    status: str
    currency: str
    totals: Totals
    refunded: MoneySchema
    payment: PaymentRead
    shipping_address: dict[str, object]
    vendor_orders: list[VendorOrderRead]
    placed_at: datetime
    paid_at: datetime | None
    canceled_at: datetime | None


class OrderSummary(BaseModel):
    id: str
    status: str
    total: MoneySchema
    vendor_count: int
    placed_at: datetime


class TimelineRead(BaseModel):
    at: datetime
    kind: str
    vendor_order_id: str | None
    from_status: str | None
    to_status: str | None
    actor_role: str
    note: str | None


class CancelIn(Strict):
    vendor_order_id: str | None = Field(
        default=None, max_length=40, description="cancel one vendor's part; default: the order"
    )
    reason: str | None = Field(default=None, max_length=500)


class VendorCancelIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class ShipItemIn(Strict):
    order_item_id: str = Field(min_length=1, max_length=40)
    quantity: int = Field(ge=1, le=99)


class ShipIn(Strict):
    carrier: str = Field(min_length=1, max_length=40)
    tracking_number: str = Field(min_length=1, max_length=64)
    items: list[ShipItemIn] | None = Field(
        default=None, max_length=100, description="a partial shipment; default: all that is left"
    )


class RefundItemIn(Strict):
    order_item_id: str = Field(min_length=1, max_length=40)
    quantity: int = Field(ge=1, le=99)


class RefundIn(Strict):
    amount: int | None = Field(default=None, ge=1, description="minor units")
    items: list[RefundItemIn] = Field(default_factory=list, max_length=100)
    reason: str = Field(min_length=1, max_length=500)


class RefundRead(BaseModel):
    id: str
    status: str
    amount: MoneySchema
    reason: str


class ReturnItemIn(Strict):
    order_item_id: str = Field(min_length=1, max_length=40)
    quantity: int = Field(ge=1, le=99)


class ReturnIn(Strict):
    items: list[ReturnItemIn] = Field(min_length=1, max_length=100)
    reason: Literal["damaged", "not_as_described", "wrong_item", "no_longer_needed", "other"]
    description: str = Field(default="", max_length=2000)


class ReturnDecisionIn(Strict):
    restock: bool = False
    amount: int | None = Field(default=None, ge=0, description="default: the items' share")
    note: str | None = Field(default=None, max_length=500)


class ReturnRead(BaseModel):
    id: str
    order_id: str
    vendor_order_id: str
    status: str
    reason: str
    description: str
    items: list[dict[str, object]]
    refund: MoneySchema
    restock: bool | None
    decision_note: str | None
    created_at: datetime
    decided_at: datetime | None
