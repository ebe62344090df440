"""Commission request and response bodies: a rule to set, a stored rule, a resolution."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from marketplace.platform.errors import ValidationFailed
from marketplace.platform.money import MoneySchema
from marketplace.vendors.domain.commission import (
    MAX_PERCENT_BPS,
    CommissionType,
    InvalidRuleTerms,
    RuleTerms,
    Scope,
)


class CommissionRuleIn(BaseModel):
    """A rule to add. `percent_bps` is for `percent` and `percent_plus_flat`, `flat` for
    `flat` and `percent_plus_flat`; a part the type does not use must be left out."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"type": "percent", "percent_bps": 1000},
                {
                    "type": "percent_plus_flat",
                    "percent_bps": 800,
                    "flat": {"amount": 30, "currency": "EUR"},
                    "effective_from": "2027-01-01T00:00:00Z",
                },
            ]
        },
    )

    type: CommissionType
    percent_bps: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_PERCENT_BPS,
        description="basis points of the line total: 1000 = 10 %",
    )
    flat: MoneySchema | None = Field(default=None, description="charged once per order line")
    effective_from: AwareDatetime | None = Field(
        default=None,
        description="when the rule takes over (default now; not in the past: orders already "
        "placed keep their rate)",
    )

    def to_terms(self) -> RuleTerms:
        """The domain terms, or a 422 naming the field that makes them invalid."""
        try:
            return RuleTerms(
                type=self.type,
                percent_bps=self.percent_bps,
                flat=self.flat.to_money() if self.flat is not None else None,
            )
        except InvalidRuleTerms as error:
            raise ValidationFailed.on_field(["body", *error.loc], str(error), error.code) from None


class CommissionRuleRead(BaseModel):
    id: str = Field(examples=["cmr_01JD3X5V6Q2W8Y9Z0A1B2C3D4E"])
    scope: Scope
    scope_id: str | None = Field(description="the vendor or category id; null for the default")
    type: CommissionType
    percent_bps: int | None
    flat: MoneySchema | None
    effective_from: datetime
    created_by: str
    created_at: datetime


class AppliedCommissionRead(BaseModel):
    """The rule that applies, with its terms."""

    rule_id: str
    scope: Scope
    scope_id: str | None
    type: CommissionType
    percent_bps: int | None
    flat: MoneySchema | None
    effective_from: datetime


class CommissionResolution(BaseModel):
    """Which rule applies to a line of `vendor_id` in `category_id` at `at`."""

    vendor_id: str
    category_id: str | None
    at: datetime
    applied: AppliedCommissionRead | None = Field(description="null when no rule is in force")
