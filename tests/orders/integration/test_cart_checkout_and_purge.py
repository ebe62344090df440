"""Carts on a real database, through the service: what checkout gets from a cart and how it
closes it (at most once), and the purge of stale carts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from factories.catalog import create_category, create_product
from factories.orders import add_line, cart_row, create_cart, lines, variant_of
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.inventory import public as inventory
from marketplace.orders.errors import CartClosed, CartEmpty, CartNotFound
from marketplace.orders.handlers import PURGE_STALE_CARTS
from marketplace.orders.models import Cart, CartItem
from marketplace.orders.service import carts
from marketplace.orders.service.carts import CartLine
from marketplace.platform.clock import utcnow
from marketplace.platform.messaging import Message


async def _variants(container: Container, count: int) -> list[str]:
    vendor = await create_vendor(container)
    category = await create_category(container)
    return [
        (await variant_of(container, await create_product(container, vendor, category))).id
        for _ in range(count)
    ]


async def test_checkout_gets_the_open_cart_lines_of_its_customer(container: Container) -> None:
    hat, scarf = await _variants(container, 2)
    cart = await create_cart(container, customer_id="usr_a")
    hat_item = await add_line(container, cart, hat, 2, customer_id="usr_a")
    scarf_item = await add_line(container, cart, scarf, 1, customer_id="usr_a")

    async with container.uow_factory() as uow:
        got = await carts.checkout_lines(uow, cart_id=cart.id, customer_id="usr_a")

    assert got == [CartLine(hat_item, hat, 2), CartLine(scarf_item, scarf, 1)]


async def test_checkout_refuses_other_peoples_guest_closed_and_empty_carts(
    container: Container,
) -> None:
    (hat,) = await _variants(container, 1)
    cart = await create_cart(container, customer_id="usr_a")
    await add_line(container, cart, hat, 1, customer_id="usr_a")
    guest = await create_cart(container)
    await add_line(container, guest, hat, 1)
    empty = await create_cart(container, customer_id="usr_b")
    converted = await create_cart(container, customer_id="usr_c")
    await add_line(container, converted, hat, 1, customer_id="usr_c")
    async with container.uow_factory() as uow:
        await carts.mark_converted(uow, cart_id=converted.id, order_id="ord_1")
        await uow.commit()

    async with container.uow_factory() as uow:
        with pytest.raises(CartNotFound):
            await carts.checkout_lines(uow, cart_id=cart.id, customer_id="usr_b")
        with pytest.raises(CartNotFound):
            await carts.checkout_lines(uow, cart_id=guest.id, customer_id="usr_a")
        with pytest.raises(CartNotFound):
            await carts.checkout_lines(uow, cart_id=converted.id, customer_id="usr_c")
        with pytest.raises(CartNotFound):
            await carts.checkout_lines(uow, cart_id="crt_missing", customer_id="usr_a")
        with pytest.raises(CartEmpty) as empty_error:
            await carts.checkout_lines(uow, cart_id=empty.id, customer_id="usr_b")

    problem = empty_error.value.to_problem()
    assert (problem["status"], problem["code"]) == (422, "cart_empty")
    assert [(e["loc"], e["code"]) for e in problem["errors"]] == [
        (["body", "cart_id"], "cart_empty")
    ]


async def test_a_cart_is_converted_once(container: Container, session: AsyncSession) -> None:
    (hat,) = await _variants(container, 1)
    cart = await create_cart(container, customer_id="usr_a")
    await add_line(container, cart, hat, 2, customer_id="usr_a")

    async with container.uow_factory() as uow:
        await carts.mark_converted(uow, cart_id=cart.id, order_id="ord_1")
        await uow.commit()
    async with container.uow_factory() as uow:
        with pytest.raises(CartClosed) as again:
            await carts.mark_converted(uow, cart_id=cart.id, order_id="ord_2")
        with pytest.raises(CartNotFound):
            await carts.mark_converted(uow, cart_id="crt_missing", order_id="ord_3")

    assert (again.value.instance_status, again.value.instance_code) == (409, "cart_closed")
    stored = await cart_row(session, cart.id)
    assert stored is not None
    assert (stored.status, stored.order_id) == ("converted", "ord_1")
    assert await lines(session, cart.id) == [(hat, 2)]


async def test_purge_deletes_carts_idle_for_30_days_with_their_lines(
    container: Container, session: AsyncSession
) -> None:
    (hat,) = await _variants(container, 1)
    stale_guest = await create_cart(container)
    await add_line(container, stale_guest, hat, 1)
    stale_customer = await create_cart(container, customer_id="usr_a")
    await add_line(container, stale_customer, hat, 3, customer_id="usr_a")
    recent = await create_cart(container, customer_id="usr_b")
    await add_line(container, recent, hat, 2, customer_id="usr_b")
    now = utcnow()
    async with container.uow_factory() as uow:
        await uow.session.execute(
            update(Cart)
            .where(Cart.id.in_([stale_guest.id, stale_customer.id]))
            .values(updated_at=now - timedelta(days=30, minutes=1))
        )
        await uow.session.execute(
            update(Cart)
            .where(Cart.id == recent.id)
            .values(updated_at=now - timedelta(days=29, hours=23))
        )
        await uow.commit()
    job = container.registry.handler(PURGE_STALE_CARTS)
    message = Message(
        id="msg_test", kind="job", name=PURGE_STALE_CARTS, payload={}, occurred_at=now, attempt=1
    )

    async with container.uow_factory() as uow:
        await job(uow, message)
        await uow.commit()

    remaining = (
        await session.scalars(select(Cart.id).execution_options(populate_existing=True))
    ).all()
    assert list(remaining) == [recent.id]
    assert await session.scalar(select(func.count()).select_from(CartItem)) == 1
    assert await lines(session, recent.id) == [(hat, 2)]
    schedules = [(p.job, p.every) for p in container.registry.periodic]
    assert (PURGE_STALE_CARTS, timedelta(hours=1)) in schedules


async def test_purge_works_in_batches(container: Container, session: AsyncSession) -> None:
    made = [await create_cart(container) for _ in range(3)]
    async with container.uow_factory() as uow:
        await uow.session.execute(update(Cart).values(updated_at=utcnow() - timedelta(days=31)))
        await uow.commit()

    async with container.uow_factory() as uow:
        first = await carts.purge_stale_carts(uow, limit=2)
        await uow.commit()
    async with container.uow_factory() as uow:
        second = await carts.purge_stale_carts(uow, limit=2)
        await uow.commit()

    assert (first, second) == (2, 1)
    assert await session.scalar(select(func.count()).select_from(Cart)) == 0
    assert len(made) == 3


async def test_stock_set_to_zero_through_inventory_shows_in_the_cart(container: Container) -> None:
    (hat,) = await _variants(container, 1)
    cart = await create_cart(container)
    await add_line(container, cart, hat, 1)
    async with container.uow_factory() as uow:
        level = (await inventory.availability(uow, [hat]))[hat]
        await inventory.set_stock(
            uow,
            vendor_id=level.vendor_id,
            product_id=level.product_id,
            variant_id=hat,
            sku=level.sku,
            quantity=0,
            low_stock_threshold=0,
            actor_id="usr_test",
        )
        await uow.commit()

    async with container.uow_factory() as uow:
        view = await carts.get_cart(uow, cart_id=cart.id, shopper=carts.Shopper(token=cart.token))

    assert [(i.available, i.in_stock, i.problems) for i in view.items] == [
        (0, False, ["out_of_stock"])
    ]
