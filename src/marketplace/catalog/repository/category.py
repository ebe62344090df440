"""Category queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.catalog.models import Category


async def category(session: AsyncSession, category_id: str) -> Category | None:
    return await session.get(Category, category_id)


async def by_slug(session: AsyncSession, slug: str) -> Category | None:
    return await session.scalar(select(Category).where(Category.slug == slug))


async def all_categories(session: AsyncSession) -> Sequence[Category]:
    return (
        await session.scalars(
            select(Category).order_by(Category.depth, Category.position, Category.name)
        )
    ).all()


async def path_of(session: AsyncSession, id_or_slug: str) -> str | None:
    """The path of the category with this id or slug, in one query (browse filters)."""
    found = await session.execute(
        select(Category.path)
        .where(or_(Category.id == id_or_slug, Category.slug == id_or_slug))
        .order_by((Category.id == id_or_slug).desc())
        .limit(1)
    )
    return found.scalar()
