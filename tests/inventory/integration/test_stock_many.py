"""Setting many variants' stock at once (`set_stock_many`, what a CSV import uses): the same
outcome as `set_stock` one variant after another (rows, log, events), in a number of
statements that does not grow with the batch, and refusals that name the variant."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.inventory import adjustments, create_stock, stock_counts
from marketplace.bootstrap import Container
from marketplace.inventory import public as inventory
from marketplace.inventory.models import Adjustment, Stock
from marketplace.platform.errors import AppError
from marketplace.platform.models import OutboxMessage

_worlds = itertools.count(1)


async def _state(session: AsyncSession, vendor_id: str) -> dict[str, Any]:
    """Everything the two ways of setting stock must agree on, with the vendor's prefix
    stripped from ids so two vendors' worlds compare equal."""
    prefix = f"{vendor_id}_"
    rows = (
        await session.execute(
            select(Stock)
            .where(Stock.vendor_id == vendor_id)
            .execution_options(populate_existing=True)
        )
    ).scalars()
    stock = sorted(
        (
            s.variant_id.removeprefix(prefix),
            s.product_id.removeprefix(prefix),
            s.sku,
            s.on_hand,
            s.reserved,
            s.low_stock_threshold,
            s.low_stock_alerted,
            s.retired_at is not None,
        )
        for s in rows
    )
    log = sorted(
        (a.variant_id.removeprefix(prefix), a.delta, a.reason, a.on_hand_after)
        for a in (
            await session.execute(select(Adjustment).where(Adjustment.vendor_id == vendor_id))
        ).scalars()
    )
    published = []
    for payload in (
        await session.execute(
            select(OutboxMessage.payload).where(OutboxMessage.name.like("inventory.%"))
        )
    ).scalars():
        if payload.get("vendor_id") != vendor_id:
            continue
        published.append(
            tuple(
                sorted(
                    (k, v.removeprefix(prefix) if isinstance(v, str) else v)
                    for k, v in payload.items()
                    if k != "vendor_id"
                )
            )
        )
    return {"stock": stock, "log": log, "events": sorted(published)}


Initial = list[tuple[int, int, int, bool]]  # (on_hand, threshold, reserved, retired)
Batch = list[tuple[int, int, int, int]]  # (variant index, sku index, quantity, threshold)

initial_stock = st.lists(
    st.tuples(st.integers(0, 8), st.integers(0, 4), st.integers(0, 8), st.booleans()).map(
        lambda t: (t[0], t[1], min(t[2], t[0]), t[3])
    ),
    max_size=5,
)
batches = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 7), st.integers(0, 10), st.integers(0, 5)),
    min_size=1,
    max_size=6,
)


async def _world(container: Container, vendor_id: str, initial: Initial) -> None:
    for i, (on_hand, threshold, reserved, retired) in enumerate(initial):
        variant_id = f"{vendor_id}_v{i}"
        async with container.uow_factory() as uow:
            await inventory.set_stock(
                uow,
                vendor_id=vendor_id,
                product_id=f"{vendor_id}_p{i}",
                variant_id=variant_id,
                sku=f"S{i}",
                quantity=on_hand,
                low_stock_threshold=threshold,
                actor_id="usr_setup",
            )
            if reserved:
                await inventory.reserve(uow, reference="chk_h", lines=[(variant_id, reserved)])
            if retired:
                await inventory.retire_stock(uow, variant_ids=[variant_id])
            await uow.commit()


def _settings(vendor_id: str, batch: Batch) -> list[inventory.StockSetting]:
    return [
        inventory.StockSetting(
            variant_id=f"{vendor_id}_v{v}",
            product_id=f"{vendor_id}_p{v}",
            sku=f"S{s}",
            quantity=quantity,
            low_stock_threshold=threshold,
        )
        for v, s, quantity, threshold in batch
    ]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(initial=initial_stock, batch=batches)
async def test_many_at_once_matches_one_by_one(
    container: Container, session: AsyncSession, initial: Initial, batch: Batch
) -> None:
    n = next(_worlds)
    at_once, one_by_one = f"ven_m{n}", f"ven_s{n}"
    await _world(container, at_once, initial)
    await _world(container, one_by_one, initial)

    refused_at_once = refused_one_by_one = False
    async with container.uow_factory() as uow:
        try:
            await inventory.set_stock_many(
                uow,
                vendor_id=at_once,
                settings=_settings(at_once, batch),
                actor_id="usr_importer",
                reason="import",
            )
        except AppError:
            refused_at_once = True
        else:
            await uow.commit()
    async with container.uow_factory() as uow:
        try:
            for setting in _settings(one_by_one, batch):
                await inventory.set_stock(
                    uow,
                    vendor_id=one_by_one,
                    product_id=setting.product_id,
                    variant_id=setting.variant_id,
                    sku=setting.sku,
                    quantity=setting.quantity,
                    low_stock_threshold=setting.low_stock_threshold,
                    actor_id="usr_importer",
                    reason="import",
                )
        except AppError:
            refused_one_by_one = True
        else:
            await uow.commit()

    assert refused_at_once == refused_one_by_one
    assert await _state(session, at_once) == await _state(session, one_by_one)


async def test_the_statements_do_not_grow_with_the_batch(container: Container) -> None:
    existing = [await create_stock(container, quantity=5, vendor_id="ven_bulk") for _ in range(30)]

    def batch(size: int, start: int) -> list[inventory.StockSetting]:
        changed = [
            inventory.StockSetting(
                variant_id=level.variant_id,
                product_id=level.product_id,
                sku=level.sku,
                quantity=start + i,
                low_stock_threshold=2,
            )
            for i, level in enumerate(existing[:size])
        ]
        new = [
            inventory.StockSetting(
                variant_id=f"var_new_{start}_{i}",
                product_id=f"prd_new_{start}_{i}",
                sku=f"NEW-{start}-{i}",
                quantity=3,
                low_stock_threshold=0,
            )
            for i in range(size)
        ]
        return changed + new

    async def statements(settings: list[inventory.StockSetting]) -> int:
        count = 0

        def counted(*_: Any) -> None:
            nonlocal count
            count += 1

        engine = container.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", counted)
        try:
            async with container.uow_factory() as uow:
                levels = await inventory.set_stock_many(
                    uow,
                    vendor_id="ven_bulk",
                    settings=settings,
                    actor_id="usr_importer",
                    reason="import",
                )
                await uow.commit()
        finally:
            event.remove(engine, "before_cursor_execute", counted)
        assert set(levels) == {s.variant_id for s in settings}
        return count

    small = await statements(batch(2, 10))
    large = await statements(batch(30, 100))
    assert small == large


async def test_a_refusal_names_the_variant_and_changes_nothing(
    container: Container, session: AsyncSession
) -> None:
    fine = await create_stock(container, quantity=5, vendor_id="ven_ref")
    held = await create_stock(container, quantity=5, vendor_id="ven_ref")
    async with container.uow_factory() as uow:
        await inventory.reserve(uow, reference="chk_1", lines=[(held.variant_id, 4)])
        await uow.commit()

    async with container.uow_factory() as uow:
        with pytest.raises(inventory.InsufficientStock) as refused:
            await inventory.set_stock_many(
                uow,
                vendor_id="ven_ref",
                settings=[
                    inventory.StockSetting(
                        variant_id=level.variant_id,
                        product_id=level.product_id,
                        sku=level.sku,
                        quantity=3,
                        low_stock_threshold=0,
                    )
                    for level in (fine, held)
                ],
                actor_id="usr_importer",
                reason="import",
            )

    assert refused.value.extra["variant_id"] == held.variant_id
    assert await stock_counts(session, fine.variant_id) == (5, 0)
    assert await stock_counts(session, held.variant_id) == (5, 4)
    assert len(await adjustments(session, fine.variant_id)) == 1
