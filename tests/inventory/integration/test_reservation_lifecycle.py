"""Reservations on a real database: all or nothing, commit and release idempotent, the
expiry sweep, and a random run of operations that the counts model predicts exactly."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.inventory import (
    adjustments,
    create_stock,
    events,
    reservation_statuses,
    stock_counts,
)
from marketplace.bootstrap import Container
from marketplace.inventory import public as inventory
from marketplace.inventory import repository, service
from marketplace.inventory.domain import StockCounts, StockRuleViolation
from marketplace.inventory.handlers import RELEASE_EXPIRED_RESERVATIONS
from marketplace.inventory.models import Reservation, ReservationLine, Stock
from marketplace.platform.clock import utcnow
from marketplace.platform.messaging import Message


async def _reserve(
    container: Container, lines: list[tuple[str, int]], ttl: timedelta = timedelta(minutes=15)
) -> inventory.Reservation:
    async with container.uow_factory() as uow:
        reservation = await inventory.reserve(uow, reference="chk_1", lines=lines, ttl=ttl)
        await uow.commit()
    return reservation


async def test_reserve_holds_every_line_until_expiry(
    container: Container, session: AsyncSession
) -> None:
    shoes = await create_stock(container, quantity=5)
    socks = await create_stock(container, quantity=5)
    before = utcnow()

    reservation = await _reserve(
        container, [(socks.variant_id, 1), (shoes.variant_id, 2), (socks.variant_id, 1)]
    )

    assert reservation.id.startswith("rsv_")
    assert (reservation.reference, reservation.status) == ("chk_1", "active")
    # Lines of one variant are added up; lines come back in variant id order.
    assert reservation.lines == (
        inventory.ReservationLine(shoes.variant_id, 2),
        inventory.ReservationLine(socks.variant_id, 2),
    )
    assert before + timedelta(minutes=15) <= reservation.expires_at
    assert reservation.expires_at <= utcnow() + timedelta(minutes=15)
    assert await stock_counts(session, shoes.variant_id) == (5, 2)
    assert await stock_counts(session, socks.variant_id) == (5, 2)


async def test_reserve_is_all_or_nothing_and_names_every_short_variant(
    container: Container, session: AsyncSession
) -> None:
    plenty = await create_stock(container, quantity=10)
    short = await create_stock(container, quantity=1)

    async with container.uow_factory() as uow:
        with pytest.raises(inventory.OutOfStock) as refused:
            await inventory.reserve(
                uow,
                reference="chk_1",
                lines=[(plenty.variant_id, 2), (short.variant_id, 2), ("var_unknown", 1)],
            )
        # Even a caller that goes on and commits its unit of work reserved nothing.
        await uow.commit()

    problem = refused.value.to_problem()
    assert (problem["status"], problem["code"]) == (409, "out_of_stock")
    assert problem["variant_ids"] == sorted([short.variant_id, "var_unknown"])
    assert refused.value.variant_ids == tuple(sorted([short.variant_id, "var_unknown"]))
    assert await stock_counts(session, plenty.variant_id) == (10, 0)
    assert await stock_counts(session, short.variant_id) == (1, 0)
    assert await reservation_statuses(session) == []
    assert await session.scalar(select(func.count()).select_from(ReservationLine)) == 0
    assert await events(session) == []


async def test_an_out_of_stock_variant_cannot_be_reserved(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=0)

    async with container.uow_factory() as uow:
        with pytest.raises(inventory.OutOfStock):
            await inventory.reserve(uow, reference="chk_1", lines=[(level.variant_id, 1)])

    assert level.in_stock is False
    assert await stock_counts(session, level.variant_id) == (0, 0)


async def test_a_retired_variant_is_short_and_the_other_lines_stay_untouched(
    container: Container, session: AsyncSession, backend: str
) -> None:
    plenty = await create_stock(container, quantity=10)
    gone = await create_stock(container, quantity=10)
    async with container.uow_factory() as uow:
        await inventory.retire_stock(uow, variant_ids=[gone.variant_id])
        await uow.commit()
    before = await _stock_rows(session, [plenty.variant_id, gone.variant_id])

    async with container.uow_factory() as uow:
        with pytest.raises(inventory.OutOfStock) as refused:
            await inventory.reserve(
                uow, reference="chk_1", lines=[(gone.variant_id, 1), (plenty.variant_id, 1)]
            )
        await uow.commit()

    assert refused.value.variant_ids == (gone.variant_id,)
    after = await _stock_rows(session, [plenty.variant_id, gone.variant_id])
    assert [counts for counts, _changed in after] == [counts for counts, _changed in before]
    assert await reservation_statuses(session) == []
    if backend == "postgresql":
        # One statement that changes every line or none: not even touched. (SQLite, line by
        # line, gives back a line held before it found the short one: its time moves.)
        assert after == before


async def test_stock_created_between_the_hold_and_the_shortage_read_is_held_on_retry(
    container: Container, session: AsyncSession, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("the one-statement hold of PostgreSQL")
    plenty = await create_stock(container, quantity=10)
    sent = repository.direct.execute
    created: list[str] = []

    async def execute(db: AsyncSession, statement: Any, params: Any = None) -> Any:
        answer = await sent(db, statement, params)
        if statement is repository._HOLD_ALL and not created:
            # The variant had no row when the statement ran; it gets one right after.
            created.append("var_late")
            await repository.insert_stock(
                db,
                "postgresql",
                variant_id="var_late",
                vendor_id="ven_test",
                product_id="prd_late",
                sku="SKU-LATE",
                on_hand=3,
                low_stock_threshold=0,
                now=utcnow(),
            )
        return answer

    monkeypatch.setattr(repository.direct, "execute", execute)
    async with container.uow_factory() as uow:
        reservation = await inventory.reserve(
            uow, reference="chk_1", lines=[(plenty.variant_id, 1), ("var_late", 2)]
        )
        await uow.commit()

    assert reservation.lines == (
        inventory.ReservationLine(plenty.variant_id, 1),
        inventory.ReservationLine("var_late", 2),
    )
    assert await stock_counts(session, plenty.variant_id) == (10, 1)
    assert await stock_counts(session, "var_late") == (3, 2)


async def _stock_rows(
    session: AsyncSession, variant_ids: list[str]
) -> list[tuple[tuple[int, int], datetime]]:
    """((on_hand, reserved), updated_at) of each variant, as committed."""
    rows = []
    for variant_id in variant_ids:
        row = (
            await session.execute(
                select(Stock.on_hand, Stock.reserved, Stock.updated_at)
                .where(Stock.variant_id == variant_id)
                .execution_options(populate_existing=True)
            )
        ).one()
        rows.append(((row.on_hand, row.reserved), row.updated_at))
    return rows


async def test_commit_sells_the_units_once(container: Container, session: AsyncSession) -> None:
    level = await create_stock(container, quantity=10)
    reservation = await _reserve(container, [(level.variant_id, 3)])

    async with container.uow_factory() as uow:
        committed = await inventory.commit(uow, reservation.id)
        await uow.commit()
    async with container.uow_factory() as uow:
        again = await inventory.commit(uow, reservation.id)
        await uow.commit()

    assert (committed.status, again.status) == ("committed", "committed")
    assert again.lines == committed.lines == (inventory.ReservationLine(level.variant_id, 3),)
    assert await stock_counts(session, level.variant_id) == (7, 0)
    assert await adjustments(session, level.variant_id) == [
        (10, "initial", "usr_setup", None, 10),
        (-3, "sale", "system", reservation.id, 7),
    ]


async def test_release_gives_units_back_once(container: Container, session: AsyncSession) -> None:
    level = await create_stock(container, quantity=10)
    reservation = await _reserve(container, [(level.variant_id, 4)])

    async with container.uow_factory() as uow:
        released = await inventory.release(uow, reservation.id)
        await uow.commit()
    async with container.uow_factory() as uow:
        again = await inventory.release(uow, reservation.id)
        await uow.commit()

    assert (released.status, again.status) == ("released", "released")
    assert await stock_counts(session, level.variant_id) == (10, 0)
    assert await adjustments(session, level.variant_id) == [(10, "initial", "usr_setup", None, 10)]


@pytest.mark.parametrize(
    ("first", "then", "status"),
    [("release", "commit", "released"), ("commit", "release", "committed")],
)
async def test_closed_reservations_refuse_the_other_ending_and_change_nothing(
    container: Container, session: AsyncSession, first: str, then: str, status: str
) -> None:
    level = await create_stock(container, quantity=10)
    reservation = await _reserve(container, [(level.variant_id, 4)])
    async with container.uow_factory() as uow:
        await getattr(inventory, first)(uow, reservation.id)
        await uow.commit()
    counts = await stock_counts(session, level.variant_id)
    log = await adjustments(session, level.variant_id)

    async with container.uow_factory() as uow:
        with pytest.raises(inventory.ReservationClosed) as refused:
            await getattr(inventory, then)(uow, reservation.id)

    problem = refused.value.to_problem()
    assert (problem["status"], problem["code"], problem["current_status"]) == (
        409,
        "reservation_closed",
        status,
    )
    assert await stock_counts(session, level.variant_id) == counts
    assert await adjustments(session, level.variant_id) == log
    assert await reservation_statuses(session) == [status]


async def test_unknown_reservation_is_not_found(container: Container) -> None:
    async with container.uow_factory() as uow:
        with pytest.raises(inventory.ReservationNotFound):
            await inventory.commit(uow, "rsv_missing")
        with pytest.raises(inventory.ReservationNotFound):
            await inventory.release(uow, "rsv_missing")


async def test_commit_and_release_in_the_unit_of_work_that_reserved(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=3)

    async with container.uow_factory() as uow:
        sold = await inventory.reserve(uow, reference="chk_1", lines=[(level.variant_id, 1)])
        kept = await inventory.reserve(uow, reference="chk_2", lines=[(level.variant_id, 1)])
        await inventory.commit(uow, sold.id)
        await inventory.release(uow, kept.id)
        await uow.commit()

    assert await stock_counts(session, level.variant_id) == (2, 0)
    assert await reservation_statuses(session) == ["committed", "released"]


async def test_hold_at_commit_holds_the_units_with_the_commit(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=5)

    async with container.uow_factory() as uow:
        reservation = await inventory.hold_at_commit(
            uow, reference="chk_1", lines=[(level.variant_id, 2), (level.variant_id, 1)]
        )
        await uow.flush()  # the transaction's other work: the hold is not part of it
        assert await stock_counts(uow.session, level.variant_id) == (5, 0)
        await uow.commit()

    assert reservation.lines == (inventory.ReservationLine(level.variant_id, 3),)
    assert await stock_counts(session, level.variant_id) == (5, 3)
    assert await reservation_statuses(session) == ["active"]
    async with container.uow_factory() as uow:
        await inventory.commit(uow, reservation.id)
        await uow.commit()
    assert await stock_counts(session, level.variant_id) == (2, 0)


async def test_a_short_hold_at_commit_fails_the_commit_and_writes_nothing(
    container: Container, session: AsyncSession
) -> None:
    plenty = await create_stock(container, quantity=5)
    scarce = await create_stock(container, quantity=1)

    async with container.uow_factory() as uow:
        await inventory.hold_at_commit(
            uow, reference="chk_1", lines=[(plenty.variant_id, 1), (scarce.variant_id, 2)]
        )
        with pytest.raises(inventory.OutOfStock) as short:
            await uow.commit()
        await uow.rollback()

    assert short.value.to_problem()["code"] == "out_of_stock"
    assert scarce.variant_id in str(short.value.to_problem())
    assert await stock_counts(session, plenty.variant_id) == (5, 0)
    assert await stock_counts(session, scarce.variant_id) == (1, 0)
    assert await reservation_statuses(session) == []


async def test_sell_at_commit_closes_now_and_sells_with_the_commit_once(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=10)
    reservation = await _reserve(container, [(level.variant_id, 3)])

    async with container.uow_factory() as uow:
        await inventory.sell_at_commit(uow, reservation.id)
        await uow.flush()
        assert await stock_counts(uow.session, level.variant_id) == (10, 3)
        await uow.commit()
    async with container.uow_factory() as uow:
        await inventory.sell_at_commit(uow, reservation.id)  # again: a no-op
        await uow.commit()

    assert await stock_counts(session, level.variant_id) == (7, 0)
    assert await reservation_statuses(session) == ["committed"]
    assert await adjustments(session, level.variant_id) == [
        (10, "initial", "usr_setup", None, 10),
        (-3, "sale", "system", reservation.id, 7),
    ]


async def test_sell_at_commit_of_a_released_reservation_is_refused_at_once(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=10)
    reservation = await _reserve(container, [(level.variant_id, 3)])
    async with container.uow_factory() as uow:
        await inventory.release(uow, reservation.id)
        await uow.commit()

    async with container.uow_factory() as uow:
        with pytest.raises(inventory.ReservationClosed):
            await inventory.sell_at_commit(uow, reservation.id)

    assert await stock_counts(session, level.variant_id) == (10, 0)


async def test_expiry_sweep_releases_only_reservations_past_their_expiry(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=10)
    stale = await _reserve(container, [(level.variant_id, 3)], ttl=timedelta(minutes=1))
    fresh = await _reserve(container, [(level.variant_id, 2)], ttl=timedelta(minutes=30))
    sold = await _reserve(container, [(level.variant_id, 1)], ttl=timedelta(minutes=1))
    async with container.uow_factory() as uow:
        await inventory.commit(uow, sold.id)
        await uow.commit()

    now = utcnow()
    async with container.uow_factory() as uow:
        nothing_due = await service.release_expired(uow, now=now)
        await uow.commit()
    async with container.uow_factory() as uow:
        swept = await service.release_expired(uow, now=now + timedelta(minutes=2))
        await uow.commit()

    assert (nothing_due, swept) == (0, 1)
    statuses = dict((await session.execute(select(Reservation.id, Reservation.status))).all())
    assert statuses == {stale.id: "expired", fresh.id: "active", sold.id: "committed"}
    assert await stock_counts(session, level.variant_id) == (9, 2)
    # A payment arriving after the sweep cannot sell units given back; a release is a no-op.
    async with container.uow_factory() as uow:
        with pytest.raises(inventory.ReservationClosed):
            await inventory.commit(uow, stale.id)
        assert (await inventory.release(uow, stale.id)).status == "expired"


async def test_sweep_job_runs_every_minute_and_releases_expired_reservations(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=4)
    await _reserve(container, [(level.variant_id, 4)], ttl=timedelta(microseconds=1))
    job = container.registry.handler(RELEASE_EXPIRED_RESERVATIONS)
    message = Message(
        id="msg_test",
        kind="job",
        name=RELEASE_EXPIRED_RESERVATIONS,
        payload={},
        occurred_at=utcnow(),
        attempt=1,
    )

    async with container.uow_factory() as uow:
        await job(uow, message)
        await uow.commit()

    schedules = [(p.job, p.every) for p in container.registry.periodic]
    assert (RELEASE_EXPIRED_RESERVATIONS, timedelta(minutes=1)) in schedules
    assert await stock_counts(session, level.variant_id) == (4, 0)
    assert await reservation_statuses(session) == ["expired"]
    # Back in stock after the sweep: the catalog hears of it.
    assert [e["in_stock"] for e in await events(session, "inventory.availability_changed.v1")] == [
        False,
        True,
    ]


# --- the database against the model ---------------------------------------------------------

Step = tuple[str, int]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(min_value=1, max_value=6)),
        st.tuples(st.just("commit"), st.integers(min_value=0, max_value=10)),
        st.tuples(st.just("release"), st.integers(min_value=0, max_value=10)),
        st.tuples(st.just("adjust"), st.integers(min_value=-8, max_value=8).filter(bool)),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(initial=st.integers(min_value=0, max_value=12), run=steps)
async def test_any_sequence_matches_the_model_and_never_oversells(
    container: Container, session: AsyncSession, initial: int, run: list[Step]
) -> None:
    level = await create_stock(container, quantity=initial)
    model = StockCounts().set_on_hand(initial)
    open_ids: list[tuple[str, int]] = []
    for kind, value in run:
        async with container.uow_factory() as uow:
            if kind == "reserve":
                try:
                    model = model.reserve(value)
                except StockRuleViolation:
                    with pytest.raises(inventory.OutOfStock):
                        await inventory.reserve(
                            uow, reference="chk_h", lines=[(level.variant_id, value)]
                        )
                else:
                    made = await inventory.reserve(
                        uow, reference="chk_h", lines=[(level.variant_id, value)]
                    )
                    open_ids.append((made.id, value))
            elif kind in {"commit", "release"} and open_ids:
                reservation_id, quantity = open_ids.pop(value % len(open_ids))
                if kind == "commit":
                    model = model.commit(quantity)
                    await inventory.commit(uow, reservation_id)
                else:
                    model = model.release(quantity)
                    await inventory.release(uow, reservation_id)
            elif kind == "adjust":
                try:
                    model = model.adjust(value)
                except StockRuleViolation:
                    with pytest.raises(inventory.InsufficientStock):
                        await inventory.adjust(
                            uow,
                            vendor_id=level.vendor_id,
                            sku=level.sku,
                            delta=value,
                            reason="h",
                            actor_id="usr_h",
                        )
                else:
                    await inventory.adjust(
                        uow,
                        vendor_id=level.vendor_id,
                        sku=level.sku,
                        delta=value,
                        reason="h",
                        actor_id="usr_h",
                    )
            await uow.commit()
        on_hand, reserved = await stock_counts(session, level.variant_id)
        assert (on_hand, reserved) == (model.on_hand, model.reserved)
        assert 0 <= reserved <= on_hand
    log = await adjustments(session, level.variant_id)
    sold = -sum(delta for delta, reason, *_ in log if reason == "sale")
    stocked = sum(delta for delta, reason, *_ in log if delta > 0)
    assert sold == model.sold <= stocked
    assert sum(delta for delta, *_ in log) == model.on_hand
