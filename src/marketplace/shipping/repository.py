"""Every query of the shipping context. Vendor reads are filtered by vendor here, once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.platform.db import insert_ignore, one_of
from marketplace.shipping.models import CarrierWebhook, TrackedShipment, TrackingEvent


async def insert_shipment(session: AsyncSession, row: Mapping[str, Any]) -> bool:
    """At most once per id (the orders shipment id): False when it already existed."""
    dialect = session.get_bind().dialect.name
    result = await session.execute(insert_ignore(TrackedShipment.__table__, dialect, [row]))  # type: ignore[arg-type]
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def shipment(
    session: AsyncSession, shipment_id: str, *, vendor_id: str | None = None, lock: bool = False
) -> TrackedShipment | None:
    query = select(TrackedShipment).where(TrackedShipment.id == shipment_id)
    if vendor_id is not None:
        query = query.where(TrackedShipment.vendor_id == vendor_id)
    if lock:
        # Refresh what the session may hold: after waiting for the lock, the row is what the
        # transaction that held it committed, and the status decision must start from that.
        query = query.with_for_update().execution_options(populate_existing=True)
    found: TrackedShipment | None = (await session.execute(query)).scalar_one_or_none()
    return found


async def shipments_by_tracking(
    session: AsyncSession, *, tracker: str, tracking_number: str | None, carrier_ref: str | None
) -> list[TrackedShipment]:
    """Shipments an adapter's update is about: by its own id for them, else by number."""
    if carrier_ref:
        rows = list(
            (
                await session.execute(
                    select(TrackedShipment)
                    .where(
                        TrackedShipment.tracker == tracker,
                        TrackedShipment.carrier_ref == carrier_ref,
                    )
                    .order_by(TrackedShipment.id)
                )
            ).scalars()
        )
        if rows:
            return rows
    if not tracking_number:
        return []
    return list(
        (
            await session.execute(
                select(TrackedShipment)
                .where(
                    TrackedShipment.tracker == tracker,
                    TrackedShipment.tracking_number == tracking_number.replace(" ", "").upper(),
                )
                .order_by(TrackedShipment.id)
            )
        ).scalars()
    )


def vendor_shipments(vendor_id: str, *, status: str | None) -> Select[Any]:
    query = select(TrackedShipment).where(TrackedShipment.vendor_id == vendor_id)
    if status is not None:
        query = query.where(TrackedShipment.status == status)
    return query


async def shipments_of_order(session: AsyncSession, order_id: str) -> list[TrackedShipment]:
    return list(
        (
            await session.execute(
                select(TrackedShipment)
                .where(TrackedShipment.order_id == order_id)
                .order_by(TrackedShipment.created_at, TrackedShipment.id)
            )
        ).scalars()
    )


async def events_of(
    session: AsyncSession, shipment_ids: Sequence[str]
) -> dict[str, list[TrackingEvent]]:
    """Every event of these shipments, oldest first, in one query."""
    found: dict[str, list[TrackingEvent]] = {i: [] for i in shipment_ids}
    if not shipment_ids:
        return found
    dialect = session.get_bind().dialect.name
    rows = (
        await session.execute(
            select(TrackingEvent)
            .where(one_of(TrackingEvent.shipment_id, shipment_ids, dialect))
            .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
        )
    ).scalars()
    for row in rows:
        found[row.shipment_id].append(row)
    return found


async def insert_events(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert-or-ignore by (shipment, key): how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    result = await session.execute(insert_ignore(TrackingEvent.__table__, dialect, rows))  # type: ignore[arg-type]
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def mark_delivered(session: AsyncSession, shipment_id: str, at: datetime) -> bool:
    """Set `delivered_at` once: True only for the one caller that set it."""
    result = await session.execute(
        update(TrackedShipment)
        .where(TrackedShipment.id == shipment_id, TrackedShipment.delivered_at.is_(None))
        .values(delivered_at=at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def due_for_polling(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[str, datetime, int]]:
    """(id, next_poll_at, interval seconds) of shipments whose poll is due, most overdue first."""
    rows = await session.execute(
        select(
            TrackedShipment.id, TrackedShipment.next_poll_at, TrackedShipment.poll_interval_seconds
        )
        .where(TrackedShipment.next_poll_at <= now)
        .order_by(TrackedShipment.next_poll_at, TrackedShipment.id)
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in rows if r[1] is not None]


async def claim_poll(
    session: AsyncSession, shipment_id: str, *, seen: datetime, until: datetime
) -> bool:
    """Push the next poll forward if nobody did since we read it (a poll is queued once)."""
    result = await session.execute(
        update(TrackedShipment)
        .where(TrackedShipment.id == shipment_id, TrackedShipment.next_poll_at == seen)
        .values(next_poll_at=until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_webhook(session: AsyncSession, row: Mapping[str, Any]) -> bool:
    dialect = session.get_bind().dialect.name
    result = await session.execute(insert_ignore(CarrierWebhook.__table__, dialect, [row]))  # type: ignore[arg-type]
    return bool(result.rowcount)  # type: ignore[attr-defined]
