"""Stock under concurrency, on the real engine with real commits: every reservation is its
own unit of work on its own connection (on PostgreSQL, truly in parallel)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

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


async def test_many_reservations_over_overlapping_variants_in_opposite_orders_apply_exactly(
    live_container: Container,
) -> None:
    # Given four plentiful variants and a scarce one, and carts of three neighbouring
    # variants (each window overlaps the next), half of them listing their lines backwards.
    plenty = [await create_stock(live_container, quantity=100) for _ in range(4)]
    scarce = await create_stock(live_container, quantity=5)
    variants = [level.variant_id for level in (*plenty, scarce)]
    carts = []
    for i in range(40):
        cart = [(variant_id, 1 + i % 2) for variant_id in variants[i % 3 : i % 3 + 3]]
        carts.append(cart if i % 2 else list(reversed(cart)))

    # When they are all reserved at once (on PostgreSQL, in parallel: one statement each
    # locks its rows), then paid or abandoned at once.
    reserved = await asyncio.gather(
        *(_reserve(live_container, f"chk_{i}", cart) for i, cart in enumerate(carts))
    )
    held = [(rid, cart) for rid, cart in zip(reserved, carts, strict=True) if rid is not None]
    endings = await asyncio.gather(
        *(
            _pay(live_container, rid) if i % 3 else _cancel(live_container, rid)
            for i, (rid, _cart) in enumerate(held)
        )
    )

    # Then no transaction failed (a deadlock would have raised), only carts with the scarce
    # variant were refused, and each of those found it short when its turn came (nothing
    # comes back during the reservations, so at the end it still has fewer units).
    refused = [cart for rid, cart in zip(reserved, carts, strict=True) if rid is None]
    assert all(scarce.variant_id in dict(cart) for cart in refused)
    scarce_held = sum(dict(cart).get(scarce.variant_id, 0) for _rid, cart in held)
    assert 0 < scarce_held <= 5
    if refused:
        assert 5 - scarce_held < min(dict(cart)[scarce.variant_id] for cart in refused)
    assert set(endings) == {"sold", "released"}
    # Every held line and nothing else moved: sold units left on_hand, nothing is still held.
    sold = Counter[str]()
    for (_rid, cart), ending in zip(held, endings, strict=True):
        if ending == "sold":
            sold.update(dict(cart))
    async with live_container.db.session() as session:
        for level in (*plenty, scarce):
            assert await stock_counts(session, level.variant_id) == (
                level.on_hand - sold[level.variant_id],
                0,
            )
            sales = [a for a in await adjustments(session, level.variant_id) if a[1] == "sale"]
            assert -sum(a[0] for a in sales) == sold[level.variant_id]


@pytest.fixture
def postgres(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("row locks that a statement waits for (PostgreSQL)")


async def _until_a_statement_waits_for_a_lock(observer: AsyncConnection) -> None:
    for _ in range(1_000):
        waiting = await observer.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        await observer.rollback()  # the activity view is read once per transaction
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no statement waited for a lock")


@pytest.mark.usefixtures("postgres")
async def test_a_reservation_that_waited_for_a_row_holds_every_line_when_the_row_got_units(
    live_container: Container, second_connection: AsyncConnection
) -> None:
    # Given a variant without units available, whose row a restock holds locked.
    empty = await create_stock(live_container, quantity=0)
    other = await create_stock(live_container, quantity=5)
    async with live_container.uow_factory() as restock:
        await inventory.adjust(
            restock,
            vendor_id=empty.vendor_id,
            sku=empty.sku,
            delta=1,
            reason="restock",
            actor_id="usr_setup",
        )
        # When a reservation of both variants starts now (its snapshot has no unit), and
        # the restock commits while it waits for the row.
        waiter = asyncio.create_task(
            _reserve(live_container, "chk_w", [(other.variant_id, 1), (empty.variant_id, 1)])
        )
        await _until_a_statement_waits_for_a_lock(second_connection)
        await restock.commit()
    reservation_id = await waiter

    # Then it holds both lines: the rows were checked as committed, and no line was left out.
    assert reservation_id is not None
    async with live_container.db.session() as session:
        assert await stock_counts(session, empty.variant_id) == (1, 1)
        assert await stock_counts(session, other.variant_id) == (5, 1)


@pytest.mark.usefixtures("postgres")
async def test_a_reservation_that_waited_for_the_last_unit_holds_nothing_once_it_is_taken(
    live_container: Container, second_connection: AsyncConnection
) -> None:
    # Given the last unit of a variant held by a checkout that has not committed yet.
    last = await create_stock(live_container, quantity=1)
    other = await create_stock(live_container, quantity=5)
    async with live_container.uow_factory() as first:
        await inventory.reserve(first, reference="chk_first", lines=[(last.variant_id, 1)])
        # When a second checkout of both variants waits for that row, and the first commits.
        waiter = asyncio.create_task(
            _reserve(live_container, "chk_w", [(last.variant_id, 1), (other.variant_id, 1)])
        )
        await _until_a_statement_waits_for_a_lock(second_connection)
        await first.commit()
    reservation_id = await waiter

    # Then the second is refused and holds nothing, not even the line that had units.
    assert reservation_id is None
    async with live_container.db.session() as session:
        assert await stock_counts(session, last.variant_id) == (1, 1)
        assert await stock_counts(session, other.variant_id) == (5, 0)
        active = await session.scalar(
            select(func.count()).select_from(Reservation).where(Reservation.status == "active")
        )
        assert active == 1


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
