"""Category bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    slug: str = Field(min_length=2, max_length=80, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    parent_id: str | None = Field(default=None, max_length=40)
    translations: dict[str, str] = Field(default_factory=dict, max_length=50)
    position: int = Field(default=0, ge=0, le=10000)


class CategoryNode(BaseModel):
    id: str
    slug: str
    name: str
    parent_id: str | None
    children: list[CategoryNode]


class CategoryRead(BaseModel):
    id: str
    slug: str
    name: str
    parent_id: str | None
    path: list[str]
