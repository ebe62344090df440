"""Checkouts racing for the last units, through the HTTP API on the real engine with real
commits: 200 customers, 50 units, exactly 50 orders, and stock ends at 0, never below."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from factories.checkout import checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.inventory.models import Stock
from marketplace.orders.models.order import Order


async def test_two_hundred_checkouts_for_fifty_units(
    live_container: Container, make_live_client: Callable[..., httpx.AsyncClient]
) -> None:
    shop = await make_shop(live_container, quantity=50)
    customers = [await create_user(live_container) for _ in range(200)]

    async with make_live_client() as client:

        async def buy(index: int) -> int:
            answer = await client.post(
                "/v1/orders",
                json=checkout_body((shop, 1)),
                headers=auth_headers(live_container, customers[index]) | key(),
            )
            return answer.status_code

        statuses = Counter(await asyncio.gather(*(buy(i) for i in range(200))))

    assert statuses == Counter({201: 50, 409: 150})
    async with live_container.db.session() as session:
        on_hand, reserved = (
            await session.execute(
                select(Stock.on_hand, Stock.reserved).where(Stock.variant_id == shop.variant_id)
            )
        ).one()
        assert (on_hand, reserved) == (0, 0)
        paid = await session.scalar(
            select(func.count()).select_from(Order).where(Order.status == "paid")
        )
        assert paid == 50
