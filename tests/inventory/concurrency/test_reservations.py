"""Stock under concurrency, on the real engine with real commits: every reservation is its
own unit of work on its own connection (on PostgreSQL, truly in parallel)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select

from factories.inventory import adjustments, create_stock, events, stock_counts
from marketplace.bootstrap import Container
from marketplace.inventory import public as inventory
from marketplace.inventory import service
from marketplace.inventory.models import Reservation, Stock
from marketplace.platform.clock import utcnow


async def _reserve(
    container: Container, reference: str, lines: list[tuple[str, int]]
) -> str | None:
    """The reservation id, or None when refused for lack of stock."""
    async with container.uow_factory() as uow:
        try:
            reservation = await inventory.reserve(uow, reference=reference, lines=lines)
        except inventory.OutOfStock:
            return None
        await uow.commit()
    return reservation.id


async def test_fifty_buyers_for_ten_units_exactly_ten_succeed(live_container: Container) -> None:
    level = await create_stock(live_container, quantity=10, threshold=2)

    outcomes = await asyncio.gather(
        *(_reserve(live_container, f"chk_{i}", [(level.variant_id, 1)]) for i in range(50))
    )

    succeeded = [o for o in outcomes if o is not None]
    assert (len(succeeded), outcomes.count(None)) == (10, 40)
    async with live_container.db.session() as session:
        assert await stock_counts(session, level.variant_id) == (10, 10)
        active = await session.scalar(
            select(func.count()).select_from(Reservation).where(Reservation.status == "active")
        )
        assert active == 10
        # One alert for the crossing, one "out of stock" for the catalog, however they raced.
        assert len(await events(session, "inventory.stock_low.v1")) == 1
        assert await events(session, "inventory.availability_changed.v1") == [
            {
                "vendor_id": level.vendor_id,
                "product_id": level.product_id,
                "variant_id": level.variant_id,
                "available": 0,
                "in_stock": False,
            }
        ]


async def test_reservations_across_variants_in_any_line_order_neither_deadlock_nor_oversell(
    live_container: Container,
) -> None:
    first = await create_stock(live_container, quantity=10)
    second = await create_stock(live_container, quantity=10)
    forward = [(first.variant_id, 1), (second.variant_id, 1)]
    backward = list(reversed(forward))

    outcomes = await asyncio.gather(
        *(_reserve(live_container, f"chk_{i}", forward if i % 2 else backward) for i in range(30))
    )

    assert sum(o is not None for o in outcomes) == 10
    async with live_container.db.session() as session:
        assert await stock_counts(session, first.variant_id) == (10, 10)
        assert await stock_counts(session, second.variant_id) == (10, 10)


async def _pay(container: Container, reservation_id: str) -> str:
    async with container.uow_factory() as uow:
        try:
            await inventory.commit(uow, reservation_id)
        except inventory.ReservationClosed:
            return "too late"
        await uow.commit()
    return "sold"


async def _cancel(container: Container, reservation_id: str) -> str:
    async with container.uow_factory() as uow:
        try:
            await inventory.release(uow, reservation_id)
        except inventory.ReservationClosed:
            return "already sold"
        await uow.commit()
    return "released"


async def _sweep_one(container: Container, now: datetime) -> int:
    async with container.uow_factory() as uow:
        released = await service.release_expired(uow, now=now, limit=1)
        await uow.commit()
    return released


async def test_payments_racing_the_expiry_sweep_apply_once_or_not_at_all(
    live_container: Container,
) -> None:
    level = await create_stock(live_container, quantity=20)
    reservation_ids = []
    for i in range(8):
        reservation_id = await _reserve(live_container, f"chk_{i}", [(level.variant_id, 2)])
        assert reservation_id is not None
        reservation_ids.append(reservation_id)
    later = utcnow() + timedelta(hours=1)  # every reservation is past its expiry by then

    # Payments and single-reservation sweeps interleaved, all at once.
    results = await asyncio.gather(
        *(
            task
            for rid in reservation_ids
            for task in (_pay(live_container, rid), _sweep_one(live_container, later))
        )
    )

    paid = Counter(r for r in results if isinstance(r, str))
    swept = sum(r for r in results if isinstance(r, int))
    assert paid["sold"] + paid["too late"] == 8
    assert paid["too late"] == swept
    async with live_container.db.session() as session:
        statuses = Counter((await session.scalars(select(Reservation.status))).all())
        assert statuses == +Counter({"committed": paid["sold"], "expired": swept})
        # Sold units left on_hand once; expired ones went back; nothing is still held.
        assert await stock_counts(session, level.variant_id) == (20 - 2 * paid["sold"], 0)
        sales = [a for a in await adjustments(session, level.variant_id) if a[1] == "sale"]
        assert len(sales) == paid["sold"]


async def test_commit_racing_release_of_the_same_reservation_applies_exactly_one(
    live_container: Container,
) -> None:
    level = await create_stock(live_container, quantity=10)
    reservation_ids = []
    for i in range(10):
        reservation_id = await _reserve(live_container, f"chk_{i}", [(level.variant_id, 1)])
        assert reservation_id is not None
        reservation_ids.append(reservation_id)

    results = await asyncio.gather(
        *(
            task
            for i, rid in enumerate(reservation_ids)
            # Alternate who starts first, so each side wins some races.
            for task in (
                (_pay(live_container, rid), _cancel(live_container, rid))
                if i % 2
                else (_cancel(live_container, rid), _pay(live_container, rid))
            )
        )
    )

    outcome = Counter(results)
    # Per reservation: sold and "already sold", or released and "too late".
    assert outcome["sold"] == outcome["already sold"]
    assert outcome["released"] == outcome["too late"]
    assert outcome["sold"] + outcome["released"] == 10
    async with live_container.db.session() as session:
        assert await stock_counts(session, level.variant_id) == (10 - outcome["sold"], 0)
        sales = [a for a in await adjustments(session, level.variant_id) if a[1] == "sale"]
        assert len(sales) == outcome["sold"]


async def test_one_sku_set_for_many_variants_at_once_ends_with_one_live_row(
    live_container: Container,
) -> None:
    async def claim(n: int) -> str:
        try:
            await create_stock(live_container, quantity=n, sku="SAME", variant_id=f"var_s{n:02d}")
        except inventory.SkuTaken:
            return "lost the race"
        return "set"

    outcomes = await asyncio.gather(*(claim(n) for n in range(1, 11)))

    # PostgreSQL may refuse late racers (SkuTaken); serialised callers hand the sku on.
    assert outcomes.count("set") >= 1
    async with live_container.db.session() as session:
        live = (
            await session.scalars(
                select(Stock.variant_id).where(Stock.sku == "SAME", Stock.retired_at.is_(None))
            )
        ).all()
        assert len(live) == 1
