"""Admin bodies for chargebacks and reconciliation runs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ChargebackAllocationRead(BaseModel):
    vendor_order_id: str
    vendor_id: str
    amount: int = Field(description="minor units charged to this vendor order")
    from_available: bool = Field(
        description="taken from the vendor's available balance (the hold had ended), else "
        "from pending"
    )


class ChargebackRead(BaseModel):
    id: str
    provider: str
    provider_dispute_id: str
    provider_payment_id: str | None
    payment_id: str
    order_id: str
    status: Literal["open", "won", "lost"]
    reason: str | None = Field(description="the card network's reason, as the provider says it")
    amount: int = Field(description="disputed, minor units")
    currency: str
    fee_amount: int = Field(description="the provider's dispute fee (given back if won)")
    unallocated_amount: int = Field(
        description="disputed money no vendor order had left (already refunded): the "
        "platform's loss unless contested"
    )
    commission_reversed: bool
    allocations: list[ChargebackAllocationRead]
    opened_at: datetime
    closed_at: datetime | None


class ReconciliationRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    provider: str = Field(min_length=1, max_length=20, examples=["sandbox"])
    start: AwareDatetime = Field(alias="from", description="inclusive")
    end: AwareDatetime = Field(alias="to", description="exclusive; at most 31 days after from")


class MismatchRead(BaseModel):
    kind: str = Field(description="charge | refund | dispute | dispute_reversal | transfer")
    provider_object_id: str
    problem: Literal["missing_in_ledger", "missing_at_provider", "amount_differs"]
    currency: str
    ledger_amount: int | None
    provider_amount: int | None
    ledger_fee: int | None
    provider_fee: int | None
    reference: str | None = Field(description="our payment, refund or chargeback id")


class ReconciliationRunRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    provider: str
    period_start: datetime = Field(serialization_alias="from")
    period_end: datetime = Field(serialization_alias="to")
    status: Literal["pending", "completed", "failed"]
    ledger_records: int
    provider_records: int
    mismatch_count: int
    created_at: datetime
    finished_at: datetime | None


class ReconciliationRunDetail(ReconciliationRunRead):
    mismatches: list[MismatchRead]
