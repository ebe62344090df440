"""Bodies for applying, the store profile and settings, staff, payout accounts and review."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from marketplace.platform.money import MoneySchema


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(Strict):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str = Field(min_length=2, max_length=2, examples=["DE"])


class Business(Strict):
    legal_name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2, examples=["DE"])
    tax_id: str | None = Field(default=None, max_length=40)
    address: Address


class VendorApply(Strict):
    name: str = Field(min_length=1, max_length=120)
    slug: str = Field(min_length=3, max_length=50, examples=["nordic-knits"])
    business: Business
    contact_email: str = Field(max_length=320)
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    description: str | None = Field(default=None, max_length=5000)


class VendorPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=5000)
    logo_url: str | None = Field(default=None, max_length=500, pattern=r"^https://")
    banner_url: str | None = Field(default=None, max_length=500, pattern=r"^https://")
    support_email: str | None = Field(default=None, max_length=320)
    support_phone: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 ()-]{5,32}$")
    contact_email: str | None = Field(default=None, max_length=320)
    currencies: list[str] | None = Field(default=None, min_length=1, max_length=20)


class Policies(Strict):
    returns: str = Field(default="", max_length=10000)
    shipping: str = Field(default="", max_length=10000)
    terms: str = Field(default="", max_length=20000)


class ShippingOptionIn(Strict):
    id: str | None = Field(default=None, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    price: MoneySchema
    delivery_days_min: int = Field(ge=0, le=365)
    delivery_days_max: int = Field(ge=0, le=365)
    countries: list[str] = Field(
        default_factory=list, max_length=250, description="ISO codes; empty means worldwide"
    )

    @model_validator(mode="after")
    def window_is_ordered(self) -> ShippingOptionIn:
        if self.delivery_days_max < self.delivery_days_min:
            raise ValueError("delivery_days_max must not be less than delivery_days_min")
        return self


class VendorSettings(Strict):
    policies: Policies = Field(default_factory=Policies)
    shipping_options: list[ShippingOptionIn] = Field(default_factory=list, max_length=50)
    return_window_days: int = Field(default=30, ge=0, le=365)
    handling_days: int = Field(default=2, ge=0, le=60)
    vacation_mode: bool = False
    vacation_message: str | None = Field(default=None, max_length=500)


class ShippingOptionRead(BaseModel):
    id: str
    name: str
    price: MoneySchema
    delivery_days_min: int
    delivery_days_max: int
    countries: list[str]


class Rating(BaseModel):
    average: float | None
    count: int


class VendorRead(BaseModel):
    """What anyone sees of an approved vendor."""

    id: str
    slug: str
    name: str
    status: str
    description: str | None
    logo_url: str | None
    banner_url: str | None
    country: str
    default_currency: str
    currencies: list[str]
    support_email: str | None
    support_phone: str | None
    policies: dict[str, str]
    shipping_options: list[ShippingOptionRead]
    return_window_days: int
    handling_days: int
    vacation_mode: bool
    vacation_message: str | None
    rating: Rating
    created_at: datetime
    approved_at: datetime | None


class BusinessRead(BaseModel):
    legal_name: str
    country: str
    tax_id: str | None = Field(description="masked")
    address: dict[str, str | None]


class VendorPrivateRead(VendorRead):
    """What the vendor's own team and platform staff see."""

    business: BusinessRead
    contact_email: str
    kyc_status: str
    status_reason: str | None


class PayoutAccountIn(Strict):
    type: Literal["bank", "wallet"]
    holder_name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2)
    iban: str | None = Field(default=None, max_length=42)
    account_number: str | None = Field(default=None, max_length=34)
    routing_number: str | None = Field(default=None, max_length=12)
    wallet_provider: str | None = Field(default=None, max_length=20)
    wallet_id: str | None = Field(default=None, max_length=320)
    current_password: str = Field(min_length=1, max_length=128)


class PayoutAccountRead(BaseModel):
    type: str
    holder_name: str
    country: str
    account: str = Field(description="masked, e.g. ****3000", examples=["****3000"])
    wallet_provider: str | None
    updated_at: datetime


class MemberInvite(Strict):
    email: str = Field(max_length=320)
    role: str = Field(min_length=1, max_length=50)


class MemberRead(BaseModel):
    user_id: str | None
    email: str
    name: str | None
    role: str
    status: Literal["active", "invited"]


class Reason(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class KycUpdate(Strict):
    status: Literal["not_started", "pending", "verified", "rejected"]
