"""Queries of issued documents (receipts, vendor statements)."""

from __future__ import annotations

from collections.abc import Sequence
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


async def documents_of_order(session: AsyncSession, order_id: str) -> Sequence[Document]:
    """The order's receipt and vendor statements issued so far."""
    return (
        await session.scalars(
            select(Document)
            .where(Document.order_id == order_id)
            .execution_options(populate_existing=True)
        )
    ).all()


async def add_once(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert each row unless a document of the same (kind, subject) exists (another
    delivery or download issued it first), all in one statement; read afterwards which
    rows are on record."""
    dialect = session.get_bind().dialect.name
    await session.execute(insert_ignore(Document.__table__, dialect, rows))  # type: ignore[arg-type]
