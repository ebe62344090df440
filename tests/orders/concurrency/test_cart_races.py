"""Carts under concurrency, on the real engine with real commits: each request is its own
unit of work on its own connection (on PostgreSQL, truly in parallel)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from factories.catalog import create_category, create_product
from factories.orders import create_cart, lines, variant_of
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.orders.errors import CartClosed, QuantityLimitExceeded
from marketplace.orders.models import Cart
from marketplace.orders.service import carts
from marketplace.orders.service.carts import Shopper


async def test_concurrent_creations_give_a_customer_one_open_cart(
    live_container: Container,
) -> None:
    async def create() -> tuple[str, bool]:
        async with live_container.uow_factory() as uow:
            view, created = await carts.create_cart(uow, shopper=Shopper(customer_id="usr_race"))
            await uow.commit()
        return view.id, created

    outcomes = await asyncio.gather(*(create() for _ in range(10)))

    assert len({cart_id for cart_id, _ in outcomes}) == 1
    assert [created for _, created in outcomes].count(True) == 1
    async with live_container.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(Cart).where(Cart.customer_id == "usr_race")
        )
    assert count == 1


async def test_concurrent_adds_never_pass_99_units_on_a_line(live_container: Container) -> None:
    vendor = await create_vendor(live_container)
    category = await create_category(live_container)
    variant = await variant_of(
        live_container, await create_product(live_container, vendor, category)
    )
    cart = await create_cart(live_container, customer_id="usr_race")

    async def add() -> bool:
        async with live_container.uow_factory() as uow:
            try:
                await carts.add_item(
                    uow,
                    cart_id=cart.id,
                    shopper=Shopper(customer_id="usr_race"),
                    quantity=5,
                    variant_id=variant.id,
                )
            except QuantityLimitExceeded:
                return False
            await uow.commit()
        return True

    outcomes = await asyncio.gather(*(add() for _ in range(20)))

    assert (outcomes.count(True), outcomes.count(False)) == (19, 1)
    async with live_container.db.session() as session:
        assert await lines(session, cart.id) == [(variant.id, 95)]


async def test_a_cart_converts_once_however_many_checkouts_race(
    live_container: Container,
) -> None:
    cart = await create_cart(live_container, customer_id="usr_race")

    async def convert(order_id: str) -> str | None:
        async with live_container.uow_factory() as uow:
            try:
                await carts.mark_converted(uow, cart_id=cart.id, order_id=order_id)
            except CartClosed:
                return None
            await uow.commit()
        return order_id

    outcomes = await asyncio.gather(*(convert(f"ord_{i}") for i in range(8)))

    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1
    async with live_container.db.session() as session:
        stored = await session.scalar(select(Cart).where(Cart.id == cart.id))
    assert stored is not None
    assert (stored.status, stored.order_id) == ("converted", winners[0])
