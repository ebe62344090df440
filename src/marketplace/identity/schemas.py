"""Identity request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from marketplace.identity.domain import PASSWORD_MAX_LENGTH


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(Strict):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    name: str = Field(min_length=1, max_length=200)
    locale: str | None = Field(default=None, max_length=35, examples=["en", "de-DE"])


class UserRead(BaseModel):
    id: str
    email: str
    name: str
    phone: str | None
    locale: str | None
    platform_role: Literal["admin", "support"] | None
    created_at: datetime


class MembershipRead(BaseModel):
    vendor_id: str
    role: str


class MeRead(UserRead):
    vendors: list[MembershipRead]


class MeUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 ()-]{5,32}$")
    locale: str | None = Field(default=None, max_length=35)
    password: str | None = Field(default=None, min_length=1, max_length=PASSWORD_MAX_LENGTH)
    current_password: str | None = Field(default=None, max_length=PASSWORD_MAX_LENGTH)


class TokenIn(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=PASSWORD_MAX_LENGTH)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutIn(Strict):
    refresh_token: str | None = Field(default=None, max_length=200)


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    permissions: list[str] = Field(min_length=1, max_length=20)


class ApiKeyRead(BaseModel):
    id: str
    name: str
    prefix: str
    permissions: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="shown once; store it now")


class RoleCreate(Strict):
    name: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9 _-]+$")
    permissions: list[str] = Field(min_length=1, max_length=20)


class RoleRead(BaseModel):
    name: str
    permissions: list[str]
    builtin: bool
