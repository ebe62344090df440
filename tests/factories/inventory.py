"""Typed factories for inventory: stock for a variant in one committed unit of work, and
readers of what the context wrote (counts, adjustments, reservations, published events)."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.bootstrap import Container
from marketplace.inventory import public as inventory
from marketplace.inventory.models import Adjustment, Reservation, Stock
from marketplace.platform.models import OutboxMessage

_counter = itertools.count(1)


async def create_stock(
    container: Container,
    *,
    quantity: int,
    threshold: int = 0,
    vendor_id: str = "ven_test",
    sku: str | None = None,
    variant_id: str | None = None,
) -> inventory.StockLevel:
    n = next(_counter)
    async with container.uow_factory() as uow:
        level = await inventory.set_stock(
            uow,
            vendor_id=vendor_id,
            product_id=f"prd_{n}",
            variant_id=variant_id or f"var_{n:05d}",
            sku=sku or f"SKU-{n:05d}",
            quantity=quantity,
            low_stock_threshold=threshold,
            actor_id="usr_setup",
        )
        await uow.commit()
    return level


async def stock_counts(session: AsyncSession, variant_id: str) -> tuple[int, int]:
    """(on_hand, reserved) as committed."""
    row = (
        await session.execute(
            select(Stock.on_hand, Stock.reserved)
            .where(Stock.variant_id == variant_id)
            .execution_options(populate_existing=True)
        )
    ).one()
    return row.on_hand, row.reserved


async def adjustments(session: AsyncSession, variant_id: str) -> list[tuple[Any, ...]]:
    """(delta, reason, actor_id, reservation_id, on_hand_after) in the order they were made."""
    rows = await session.execute(
        select(
            Adjustment.delta,
            Adjustment.reason,
            Adjustment.actor_id,
            Adjustment.reservation_id,
            Adjustment.on_hand_after,
        )
        .where(Adjustment.variant_id == variant_id)
        .order_by(Adjustment.id)
    )
    return [tuple(row) for row in rows.all()]


async def reservation_statuses(session: AsyncSession) -> list[str]:
    return sorted((await session.scalars(select(Reservation.status))).all())


async def events(session: AsyncSession, name: str | None = None) -> list[dict[str, Any]]:
    """Payloads of inventory events in the outbox, oldest first (optionally of one name)."""
    stmt = select(OutboxMessage.name, OutboxMessage.payload).where(
        OutboxMessage.name.like("inventory.%"), OutboxMessage.kind == "event"
    )
    rows = (await session.execute(stmt.order_by(OutboxMessage.seq))).all()
    return [dict(payload) for n, payload in rows if name is None or n == name]
