"""Pydantic shapes of the audit-log endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class FieldChangeRead(BaseModel):
    before: JsonValue = Field(description="value before the action; secrets are masked")
    after: JsonValue = Field(description="value after the action; secrets are masked")


class AuditLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["aud_01JD3X5W0Q8ZP6M7R2K4T9B1CE"])
    seq: int = Field(description="position in the hash chain")
    occurred_at: datetime
    actor_id: str
    actor_role: str = Field(examples=["admin", "vendor_owner"])
    action: str = Field(examples=["vendor.approved"])
    resource_type: str = Field(examples=["vendor"])
    resource_id: str
    changes: dict[str, FieldChangeRead] = Field(description="changed fields only")
    request_id: str | None
    ip: str | None
    prev_hash: str = Field(description="hash of the previous entry (64 zeros for the first)")
    hash: str = Field(description="SHA-256 over this entry's fields and prev_hash")


class BrokenEntryRead(BaseModel):
    seq: int
    id: str | None
    reason: Literal["hash_mismatch", "broken_link", "head_mismatch"]


class ChainVerificationRead(BaseModel):
    valid: bool
    checked: int = Field(description="entries examined (the walk stops at the first break)")
    first_broken: BrokenEntryRead | None
