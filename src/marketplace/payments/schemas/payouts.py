"""Payouts request and response bodies: schedules, payouts, runs, and vendors in the red."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from marketplace.payments.domain.payout import Weekday
from marketplace.platform.money import MoneySchema


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PayoutScheduleIn(Strict):
    interval: Literal["daily", "weekly", "monthly", "manual"] = Field(
        description="manual: paid only on request (POST .../payouts)"
    )
    minimum: MoneySchema = Field(
        description="a scheduled payout is made only when the available balance in this "
        "currency reaches it (other currencies: when positive)"
    )
    weekly_anchor: Weekday = Field("monday", description="the weekday weekly payouts are made")
    monthly_anchor: int = Field(
        1, ge=1, le=31, description="the day monthly payouts are made (the last day if shorter)"
    )


class PayoutScheduleRead(BaseModel):
    vendor_id: str
    interval: str
    weekly_anchor: str
    monthly_anchor: int
    minimum: MoneySchema
    next_run_at: datetime | None = Field(description="the next due date (UTC); null if manual")
    updated_at: datetime | None


class PayoutCreate(Strict):
    amount: MoneySchema | None = Field(
        None, description="omit to pay out the whole available balance of the vendor's currency"
    )


class PayoutRead(BaseModel):
    id: str
    object: Literal["payout"] = "payout"
    vendor_id: str
    amount: MoneySchema
    status: str = Field(description="pending | in_transit | paid | failed")
    method: str = Field(description="manual | scheduled | admin")
    run_id: str | None
    destination: str = Field(description="the payout account, masked", examples=["****3000"])
    provider: str
    provider_transfer_id: str | None
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    sent_at: datetime | None
    paid_at: datetime | None
    failed_at: datetime | None


class PayoutRunIn(Strict):
    vendor_id: str | None = Field(
        None, max_length=40, description="pay this vendor now, whatever its schedule"
    )


class SkippedVendor(BaseModel):
    vendor_id: str
    currency: str | None
    reason: str = Field(
        description="vendor_not_approved | kyc_not_verified | no_payout_account | "
        "vendor_not_found | "
        "nothing_available | below_minimum"
    )


class PayoutRunRead(BaseModel):
    id: str
    trigger: str = Field(description="schedule | admin")
    actor_id: str | None
    vendor_id: str | None
    payout_count: int
    skipped: list[SkippedVendor]
    started_at: datetime
    finished_at: datetime
    payouts: list[PayoutRead]


class NegativeBalanceRead(BaseModel):
    vendor_id: str
    currency: str
    amount: int = Field(description="the vendor's available balance (negative, minor units)")


def skipped(rows: list[dict[str, Any]]) -> list[SkippedVendor]:
    return [SkippedVendor.model_validate(r) for r in rows]
