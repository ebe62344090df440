"""Setting and adjusting stock on a real database: the adjustment log, refusals that change
nothing, levels read in one query, low-stock alerts once per crossing, and in/out-of-stock
news only when it changes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.inventory import adjustments, create_stock, events, stock_counts
from marketplace.bootstrap import Container
from marketplace.inventory import public as inventory
from marketplace.inventory.models import Adjustment, Stock

STOCK_LOW = "inventory.stock_low.v1"
AVAILABILITY = "inventory.availability_changed.v1"


async def _adjust(container: Container, level: inventory.StockLevel, delta: int) -> None:
    async with container.uow_factory() as uow:
        await inventory.adjust(
            uow,
            vendor_id=level.vendor_id,
            sku=level.sku,
            delta=delta,
            reason="count",
            actor_id="usr_clerk",
        )
        await uow.commit()


async def _sell(container: Container, variant_id: str, quantity: int = 1) -> None:
    async with container.uow_factory() as uow:
        reservation = await inventory.reserve(
            uow, reference="chk_test", lines=[(variant_id, quantity)]
        )
        await inventory.commit(uow, reservation.id)
        await uow.commit()


async def test_set_stock_creates_then_sets_absolute_values_and_logs_each_change(
    container: Container, session: AsyncSession
) -> None:
    created = await create_stock(container, quantity=5, threshold=2, variant_id="var_a")

    async with container.uow_factory() as uow:
        updated = await inventory.set_stock(
            uow,
            vendor_id="ven_test",
            product_id="prd_a",
            variant_id="var_a",
            sku="SKU-A2",
            quantity=12,
            low_stock_threshold=4,
            actor_id="usr_importer",
            reason="csv import",
        )
        await uow.commit()

    assert (created.on_hand, created.available, created.in_stock) == (5, 5, True)
    assert (
        updated.sku,
        updated.product_id,
        updated.on_hand,
        updated.reserved,
        updated.available,
        updated.low_stock_threshold,
        updated.low_stock,
    ) == ("SKU-A2", "prd_a", 12, 0, 12, 4, False)
    assert await adjustments(session, "var_a") == [
        (5, "initial", "usr_setup", None, 5),
        (7, "csv import", "usr_importer", None, 12),
    ]
    # Creating stock is not news: the creator has the level.
    assert await events(session) == []


async def test_set_stock_refuses_to_go_below_reserved_and_changes_nothing(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=5)
    async with container.uow_factory() as uow:
        await inventory.reserve(uow, reference="chk_1", lines=[(level.variant_id, 3)])
        await uow.commit()

    async with container.uow_factory() as uow:
        with pytest.raises(inventory.InsufficientStock) as refused:
            await inventory.set_stock(
                uow,
                vendor_id=level.vendor_id,
                product_id=level.product_id,
                variant_id=level.variant_id,
                sku=level.sku,
                quantity=2,
                low_stock_threshold=0,
                actor_id="usr_clerk",
            )

    assert refused.value.to_problem()["code"] == "insufficient_stock"
    assert (refused.value.extra["on_hand"], refused.value.extra["reserved"]) == (5, 3)
    assert await stock_counts(session, level.variant_id) == (5, 3)
    assert len(await adjustments(session, level.variant_id)) == 1


async def test_a_sku_given_to_another_variant_retires_the_old_holders_stock(
    container: Container, session: AsyncSession
) -> None:
    # The catalog deleted var_old (or renamed it) and gave its sku to var_new.
    old = await create_stock(container, quantity=4, sku="MUG", variant_id="var_old")
    async with container.uow_factory() as uow:
        held = await inventory.reserve(uow, reference="chk_1", lines=[("var_old", 1)])
        await uow.commit()

    new = await create_stock(container, quantity=9, sku="MUG", variant_id="var_new")

    async with container.uow_factory() as uow:
        levels = await inventory.availability(uow, ["var_old", "var_new"])
        with pytest.raises(inventory.OutOfStock):
            await inventory.reserve(uow, reference="chk_2", lines=[("var_old", 1)])
        by_sku = await inventory.adjust(
            uow, vendor_id="ven_test", sku="MUG", delta=1, reason="count", actor_id="usr_clerk"
        )
        # A reservation made before still ends normally.
        await inventory.commit(uow, held.id)
        await uow.commit()

    assert list(levels) == ["var_new"]
    assert (by_sku.variant_id, by_sku.on_hand) == (new.variant_id, 10)
    assert await stock_counts(session, old.variant_id) == (3, 0)
    live = await session.execute(
        select(Stock.variant_id, Stock.sku, Stock.retired_at.is_(None))
        .order_by(Stock.variant_id)
        .execution_options(populate_existing=True)
    )
    assert live.all() == [("var_new", "MUG", True), ("var_old", "MUG", False)]


async def test_retired_stock_comes_back_when_set_again(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=3, sku="LAMP", variant_id="var_lamp")

    async with container.uow_factory() as uow:
        retired = await inventory.retire_stock(uow, variant_ids=["var_lamp", "var_unknown"])
        again = await inventory.retire_stock(uow, variant_ids=["var_lamp"])
        gone = await inventory.availability(uow, ["var_lamp"])
        await uow.commit()
    async with container.uow_factory() as uow:
        with pytest.raises(inventory.SkuNotFound):
            await inventory.adjust(
                uow, vendor_id="ven_test", sku="LAMP", delta=1, reason="x", actor_id="usr_clerk"
            )
        back = await inventory.set_stock(
            uow,
            vendor_id="ven_test",
            product_id=level.product_id,
            variant_id="var_lamp",
            sku="LAMP",
            quantity=5,
            low_stock_threshold=0,
            actor_id="usr_clerk",
        )
        await uow.commit()

    assert (retired, again, gone) == (1, 0, {})
    assert (back.on_hand, back.available, back.in_stock) == (5, 5, True)
    async with container.uow_factory() as uow:
        assert list(await inventory.availability(uow, ["var_lamp"])) == ["var_lamp"]
    assert await adjustments(session, "var_lamp") == [
        (3, "initial", "usr_setup", None, 3),
        (2, "set", "usr_clerk", None, 5),
    ]


async def test_adjust_logs_actor_reason_and_result(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=10, threshold=0)

    async with container.uow_factory() as uow:
        added = await inventory.adjust(
            uow,
            vendor_id="ven_test",
            sku=level.sku,
            delta=15,
            reason="restock from supplier",
            actor_id="usr_clerk",
        )
        removed = await inventory.adjust(
            uow, vendor_id="ven_test", sku=level.sku, delta=-4, reason="damaged", actor_id="key_1"
        )
        await uow.commit()

    assert (added.on_hand, removed.on_hand, removed.available) == (25, 21, 21)
    assert await adjustments(session, level.variant_id) == [
        (10, "initial", "usr_setup", None, 10),
        (15, "restock from supplier", "usr_clerk", None, 25),
        (-4, "damaged", "key_1", None, 21),
    ]


@pytest.mark.parametrize(
    ("vendor_id", "sku", "delta", "error", "code"),
    [
        ("ven_test", "SKU-ADJ", -8, inventory.InsufficientStock, "insufficient_stock"),
        ("ven_test", "SKU-ADJ", -11, inventory.InsufficientStock, "insufficient_stock"),
        ("ven_test", "NOPE", 1, inventory.SkuNotFound, "sku_not_found"),
        ("ven_other", "SKU-ADJ", 1, inventory.SkuNotFound, "sku_not_found"),
        ("ven_test", "SKU-ADJ", 1_000_000, inventory.StockLimitExceeded, "stock_limit_exceeded"),
    ],
)
async def test_refused_adjustments_change_nothing(
    container: Container,
    session: AsyncSession,
    vendor_id: str,
    sku: str,
    delta: int,
    error: type[Exception],
    code: str,
) -> None:
    level = await create_stock(container, quantity=10, sku="SKU-ADJ")
    async with container.uow_factory() as uow:
        await inventory.reserve(uow, reference="chk_1", lines=[(level.variant_id, 3)])
        await uow.commit()
    if code == "stock_limit_exceeded":
        # Close to the ceiling, so one more maximal adjustment would pass it.
        async with container.uow_factory() as uow:
            await inventory.set_stock(
                uow,
                vendor_id="ven_test",
                product_id=level.product_id,
                variant_id=level.variant_id,
                sku=level.sku,
                quantity=999_999_000,
                low_stock_threshold=0,
                actor_id="usr_setup",
            )
            await uow.commit()
    counts_before = await stock_counts(session, level.variant_id)
    log_before = await adjustments(session, level.variant_id)

    async with container.uow_factory() as uow:
        with pytest.raises(error) as refused:
            await inventory.adjust(
                uow, vendor_id=vendor_id, sku=sku, delta=delta, reason="x", actor_id="usr_clerk"
            )

    assert refused.value.to_problem()["code"] == code  # type: ignore[attr-defined]
    assert await stock_counts(session, level.variant_id) == counts_before
    assert await adjustments(session, level.variant_id) == log_before


async def test_availability_reads_all_levels_in_one_query(
    container: Container, session: AsyncSession
) -> None:
    full = await create_stock(container, quantity=4, threshold=1)
    empty = await create_stock(container, quantity=0, threshold=1)
    low = await create_stock(container, quantity=1, threshold=1)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    async with container.uow_factory() as uow:
        await uow.session.connection()  # the connection (and BEGIN) before counting
        event.listen(container.db.engine.sync_engine, "before_cursor_execute", record)
        try:
            levels = await inventory.availability(
                uow, [full.variant_id, empty.variant_id, low.variant_id, "var_unknown"]
            )
        finally:
            event.remove(container.db.engine.sync_engine, "before_cursor_execute", record)

    assert len(statements) == 1
    assert {
        v: (lv.on_hand, lv.reserved, lv.available, lv.in_stock, lv.low_stock)
        for v, lv in levels.items()
    } == {
        full.variant_id: (4, 0, 4, True, False),
        empty.variant_id: (0, 0, 0, False, True),
        low.variant_id: (1, 0, 1, True, True),
    }


async def test_low_stock_is_published_once_per_crossing(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=6, threshold=3)

    for _ in range(5):  # available 5, 4, 3 (crossing), 2, 1
        await _sell(container, level.variant_id)
    first = await events(session, STOCK_LOW)
    await _adjust(container, level, 10)  # available 11: above the threshold again
    for _ in range(8):  # 10 ... 4, 3 (crossing), 2
        await _sell(container, level.variant_id)

    expected = {
        "vendor_id": "ven_test",
        "variant_id": level.variant_id,
        "sku": level.sku,
        "available": 3,
        "threshold": 3,
    }
    assert first == [expected]
    assert await events(session, STOCK_LOW) == [expected, expected]
    assert await stock_counts(session, level.variant_id) == (3, 0)


async def test_raising_the_threshold_above_available_alerts_and_creation_does_not(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=2, threshold=5)  # low from the start

    async with container.uow_factory() as uow:
        await inventory.set_stock(
            uow,
            vendor_id="ven_test",
            product_id=level.product_id,
            variant_id=level.variant_id,
            sku=level.sku,
            quantity=20,
            low_stock_threshold=5,
            actor_id="usr_setup",
        )
        await uow.commit()
    quiet = await events(session, STOCK_LOW)
    async with container.uow_factory() as uow:
        await inventory.set_stock(
            uow,
            vendor_id="ven_test",
            product_id=level.product_id,
            variant_id=level.variant_id,
            sku=level.sku,
            quantity=20,
            low_stock_threshold=25,
            actor_id="usr_setup",
        )
        await uow.commit()

    assert quiet == []
    assert [e["threshold"] for e in await events(session, STOCK_LOW)] == [25]


async def test_availability_changes_are_published_only_going_out_of_and_back_into_stock(
    container: Container, session: AsyncSession
) -> None:
    level = await create_stock(container, quantity=2)
    variant = level.variant_id

    async with container.uow_factory() as uow:
        first = await inventory.reserve(uow, reference="chk_1", lines=[(variant, 1)])
        await uow.commit()
    quiet = await events(session, AVAILABILITY)
    async with container.uow_factory() as uow:
        await inventory.reserve(uow, reference="chk_2", lines=[(variant, 1)])  # sold out
        await uow.commit()
    async with container.uow_factory() as uow:
        await inventory.commit(uow, first.id)  # still 0 available: no news
        await uow.commit()
    await _adjust(container, level, 3)  # back in stock
    await _adjust(container, level, 5)  # more: no news
    await _adjust(container, level, -8)  # out again (1 on hand, held by chk_2)

    def news(available: int, in_stock: bool) -> dict[str, Any]:
        return {
            "vendor_id": "ven_test",
            "product_id": level.product_id,
            "variant_id": variant,
            "available": available,
            "in_stock": in_stock,
        }

    assert quiet == []
    assert await events(session, AVAILABILITY) == [
        news(0, False),
        news(3, True),
        news(0, False),
    ]
    total = await session.scalar(select(func.count()).select_from(Adjustment))
    assert total == 5  # initial, sale, +3, +5, -8
