"""Queries of issued documents (receipts, vendor statements)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.orders.models.document import Document
from marketplace.platform.db import insert_ignore


async def document(session: AsyncSession, *, kind: str, subject_id: str) -> Document | None:
    return (
        await session.scalars(
            select(Document)
            .where(Document.kind == kind, Document.subject_id == subject_id)
            .execution_options(populate_existing=True)
        )
    ).first()


async def add_once(session: AsyncSession, row: dict[str, Any]) -> Document:
    """Insert `row` unless a document of the same (kind, subject) exists; the one that is
    there afterwards (ours, or the one a concurrent writer committed first)."""
    dialect = session.get_bind().dialect.name
    await session.execute(insert_ignore(Document.__table__, dialect, [row]))  # type: ignore[arg-type]
    found = await document(session, kind=row["kind"], subject_id=row["subject_id"])
    assert found is not None
    return found
