"""Inventory request and response bodies: a stock level, and a manual adjustment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator

from marketplace.inventory.domain import MAX_DELTA, REASON_MAX_LENGTH


class StockRead(BaseModel):
    variant_id: str = Field(examples=["var_01JD3X5V6Q2W8Y9Z0A1B2C3D4E"])
    product_id: str
    sku: str
    on_hand: int = Field(description="units in the warehouse")
    reserved: int = Field(description="units held by checkouts in progress")
    available: int = Field(description="on_hand - reserved: what can still be bought")
    in_stock: bool
    low_stock: bool = Field(description="available is at or below low_stock_threshold")
    low_stock_threshold: int
    updated_at: datetime


class AdjustmentIn(BaseModel):
    """Units received (positive) or taken out (negative: damage, loss, recount)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"delta": 25, "reason": "restock from supplier"}]},
    )

    delta: StrictInt = Field(ge=-MAX_DELTA, le=MAX_DELTA, description="non-zero")
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_MAX_LENGTH)
    ]

    @field_validator("delta")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("delta must not be 0")
        return value
