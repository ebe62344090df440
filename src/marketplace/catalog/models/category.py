"""The category tree. `path` ("/cat_a/cat_b/") lets one indexed prefix match select a
category with all its descendants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.platform.db import Base


class Category(Base):
    __tablename__ = "catalog_category"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("catalog_category.id"))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    translations: Mapped[dict[str, str]] = mapped_column(JSON)
    path: Mapped[str] = mapped_column(String(500), index=True)
    depth: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
