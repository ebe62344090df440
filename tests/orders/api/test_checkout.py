"""Checkout through the API with the sandbox provider: one order split per vendor, paid once
whatever the retries, a declined card releasing the stock, and each vendor seeing only its
own part."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.checkout import checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.inventory.models import Stock
from marketplace.orders.models.order import Order, VendorOrder
from marketplace.payments.events import PaymentSucceeded
from marketplace.platform.models import Delivery, OutboxMessage


async def _available(session: AsyncSession, variant_id: str) -> int:
    row = (
        await session.execute(
            select(Stock.on_hand - Stock.reserved)
            .where(Stock.variant_id == variant_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return int(row)


async def _events(session: AsyncSession, name: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(OutboxMessage.payload).where(OutboxMessage.name == name).order_by(OutboxMessage.seq)
    )
    return [dict(p) for p in rows.all()]


async def test_three_vendors_make_three_vendor_orders_that_add_up_to_the_order(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shops = [
        await make_shop(container, price=1000, shipping=490),
        await make_shop(container, price=2550, shipping=0),
        await make_shop(container, price=999, shipping=300),
    ]
    customer = await create_user(container)
    headers = auth_headers(container, customer) | key()

    placed = await client.post(
        "/v1/orders",
        json=checkout_body((shops[0], 2), (shops[1], 1), (shops[2], 3)),
        headers=headers,
    )

    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "paid"
    assert order["payment"] == {
        "provider": "sandbox",
        "status": "succeeded",
        "failure_code": None,
        "failure_message": None,
    }
    parts = {v["vendor_id"]: v for v in order["vendor_orders"]}
    assert len(parts) == 3
    assert {p["status"] for p in parts.values()} == {"processing"}
    assert [parts[s.vendor.id]["totals"]["total"]["amount"] for s in shops] == [
        2000 + 490,
        2550,
        2997 + 300,
    ]
    assert order["totals"]["total"] == {"amount": 2490 + 2550 + 3297, "currency": "EUR"}
    assert (
        sum(p["totals"]["total"]["amount"] for p in parts.values())
        == (order["totals"]["total"]["amount"])
    )
    assert [await _available(session, s.variant_id) for s in shops] == [8, 9, 7]
    # One confirmation for the checkout; one alert per vendor with its own lines only.
    placed_events = await _events(session, "orders.order_placed.v1")
    assert [e["order_id"] for e in placed_events] == [order["id"]]
    alerts = await _events(session, "orders.vendor_order_placed.v1")
    assert sorted((a["vendor_id"], len(a["items"])) for a in alerts) == sorted(
        (s.vendor.id, 1) for s in shops
    )


async def test_a_vendor_sees_its_own_part_only(
    client: httpx.AsyncClient, container: Container
) -> None:
    mine, theirs = await make_shop(container), await make_shop(container)
    customer = await create_user(container)
    order = (
        await client.post(
            "/v1/orders",
            json=checkout_body((mine, 1), (theirs, 2)),
            headers=auth_headers(container, customer) | key(),
        )
    ).json()
    own_id = next(v["id"] for v in order["vendor_orders"] if v["vendor_id"] == mine.vendor.id)
    other_id = next(v["id"] for v in order["vendor_orders"] if v["vendor_id"] != mine.vendor.id)
    vendor_headers = auth_headers(container, mine.vendor.owner)

    listed = (
        await client.get(f"/v1/vendors/{mine.vendor.id}/orders", headers=vendor_headers)
    ).json()
    own = await client.get(f"/v1/vendors/{mine.vendor.id}/orders/{own_id}", headers=vendor_headers)
    other = await client.get(
        f"/v1/vendors/{mine.vendor.id}/orders/{other_id}", headers=vendor_headers
    )
    customers_view = await client.get(f"/v1/orders/{order['id']}", headers=vendor_headers)

    assert [v["id"] for v in listed["data"]] == [own_id]
    assert [i["sku"] for i in own.json()["items"]] == [mine.sku]
    assert own.json()["shipping_address"]["city"] == "Berlin"
    assert other.status_code == 404
    assert customers_view.status_code == 404


async def test_the_same_idempotency_key_makes_one_order_and_one_charge(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, quantity=5)
    customer = await create_user(container)
    headers = auth_headers(container, customer) | key()
    body = checkout_body((shop, 2))

    first = await client.post("/v1/orders", json=body, headers=headers)
    again = await client.post("/v1/orders", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await session.scalar(select(func.count()).select_from(Order)) == 1
    assert await _available(session, shop.variant_id) == 3
    captures = await _events(session, "payments.payment_succeeded.v1")
    assert [c["order_id"] for c in captures] == [first.json()["id"]]


async def test_a_declined_card_cancels_the_order_and_releases_the_stock(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, quantity=3)
    customer = await create_user(container)
    headers = auth_headers(container, customer) | key()

    declined = await client.post(
        "/v1/orders",
        json=checkout_body((shop, 2), payment_method="pm_card_declined"),
        headers=headers,
    )

    assert declined.status_code == 402, declined.text
    problem = declined.json()
    assert problem["code"] == "payment_declined"
    order = await session.get(Order, problem["order_id"], populate_existing=True)
    assert order is not None
    assert (order.status, order.payment_status, order.failure_code) == (
        "canceled",
        "failed",
        "card_declined",
    )
    statuses = await session.scalars(
        select(VendorOrder.status).where(VendorOrder.order_id == order.id)
    )
    assert statuses.all() == ["canceled"]
    assert await _available(session, shop.variant_id) == 3
    # The same key replays the decline; nothing is charged or reserved again.
    replay = await client.post(
        "/v1/orders",
        json=checkout_body((shop, 2), payment_method="pm_card_declined"),
        headers=headers,
    )
    assert replay.status_code == 402
    assert await session.scalar(select(func.count()).select_from(Order)) == 1


async def test_refused_checkouts_name_the_field_and_change_nothing(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, quantity=2)
    customer = await create_user(container)
    headers = auth_headers(container, customer)

    no_key = await client.post("/v1/orders", json=checkout_body((shop, 1)), headers=headers)
    too_many = await client.post(
        "/v1/orders", json=checkout_body((shop, 3)), headers=headers | key()
    )
    no_option = await client.post(
        "/v1/orders",
        json=checkout_body((shop, 1), shipping_options={}),
        headers=headers | key(),
    )
    pan = await client.post(
        "/v1/orders",
        json=checkout_body((shop, 1), payment_method="4242424242424242"),
        headers=headers | key(),
    )

    assert no_key.status_code == 400
    assert too_many.status_code == 409
    assert too_many.json()["code"] == "out_of_stock"
    assert no_option.status_code == 422
    assert no_option.json()["errors"][0]["loc"] == ["body", "shipping_options", shop.vendor.id]
    assert pan.status_code == 422
    assert "4242424242424242" not in pan.text
    assert await session.scalar(select(func.count()).select_from(Order)) == 0
    assert await _available(session, shop.variant_id) == 2


async def _lose_the_reservation(session: AsyncSession, container: Container) -> None:
    """The provider took longer than the reservation's lifetime: the sweep released it."""
    from sqlalchemy import update

    from marketplace.inventory.models import Reservation
    from marketplace.inventory.service import release_expired
    from marketplace.platform.clock import utcnow

    await session.execute(update(Reservation).values(expires_at=utcnow()))
    await session.commit()
    async with container.uow_factory() as uow:
        assert await release_expired(uow) == 1
        await uow.commit()


async def test_a_reservation_lost_while_paying_is_taken_again_when_the_stock_is_there(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, quantity=3)
    customer = await create_user(container)
    headers = auth_headers(container, customer) | key()
    body = checkout_body((shop, 2), payment_method="pm_card_visa_timeout")

    lost = await client.post("/v1/orders", json=body, headers=headers)
    await _lose_the_reservation(session, container)
    retried = await client.post("/v1/orders", json=body, headers=headers)

    assert lost.status_code == 503
    assert retried.status_code == 201, retried.text
    assert retried.json()["status"] == "paid"
    assert await _available(session, shop.variant_id) == 1
    assert await session.scalar(select(func.count()).select_from(Order)) == 1


async def test_units_sold_to_others_while_paying_cancel_and_refund_the_order(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, quantity=2)
    customer, rival = await create_user(container), await create_user(container)
    headers = auth_headers(container, customer) | key()
    body = checkout_body((shop, 2), payment_method="pm_card_visa_timeout")

    lost = await client.post("/v1/orders", json=body, headers=headers)
    await _lose_the_reservation(session, container)
    taken = await client.post(
        "/v1/orders", json=checkout_body((shop, 2)), headers=auth_headers(container, rival) | key()
    )
    retried = await client.post("/v1/orders", json=body, headers=headers)
    await container.jobs.drain()  # the refund goes through the provider

    assert (lost.status_code, taken.status_code) == (503, 201)
    assert retried.status_code == 409, retried.text
    assert retried.json()["code"] == "sold_out"
    order = await session.get(Order, retried.json()["order_id"], populate_existing=True)
    assert order is not None
    assert (order.status, order.payment_status, order.refunded_amount) == (
        "canceled",
        "succeeded",
        order.total_amount,
    )
    vendor_statuses = await session.scalars(
        select(VendorOrder.status)
        .where(VendorOrder.order_id == order.id)
        .execution_options(populate_existing=True)
    )
    assert list(vendor_statuses) == ["canceled"]
    assert await _available(session, shop.variant_id) == 0


async def _follow_ups_of_payment_success(session: AsyncSession) -> dict[str, list[str]]:
    """order id -> the handlers that got a delivery of its PaymentSucceeded."""
    rows = await session.execute(
        select(OutboxMessage.payload, Delivery.handler)
        .join(Delivery, Delivery.message_id == OutboxMessage.id, isouter=True)
        .where(OutboxMessage.name == PaymentSucceeded.name)
    )
    found: dict[str, list[str]] = {}
    for payload, handler in rows.all():
        found.setdefault(str(payload["order_id"]), [])
        if handler is not None:
            found[str(payload["order_id"])].append(handler)
    return found


async def test_only_a_charge_the_checkout_did_not_see_is_followed_up_by_the_order(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, quantity=5)
    customer = await create_user(container)

    paid = await client.post(
        "/v1/orders",
        json=checkout_body((shop, 1)),
        headers=auth_headers(container, customer) | key(),
    )
    # The charge goes through but its answer is lost: only the provider's webhook tells.
    lost = await client.post(
        "/v1/orders",
        json=checkout_body((shop, 1), payment_method="pm_card_visa_timeout"),
        headers=auth_headers(container, customer) | key(),
    )
    assert (paid.status_code, lost.status_code) == (201, 503)
    pending = await session.scalar(select(Order).where(Order.status == "pending_payment"))
    assert pending is not None
    await container.jobs.drain()

    follow_ups = await _follow_ups_of_payment_success(session)
    # The checkout settled its order in the transaction that recorded the charge.
    assert "orders.follow_payment_succeeded" not in follow_ups[paid.json()["id"]]
    # The webhook's success was followed, and paid the order the checkout left pending.
    assert "orders.follow_payment_succeeded" in follow_ups[pending.id]
    settled = await session.get(Order, pending.id, populate_existing=True)
    assert settled is not None
    assert (settled.status, settled.payment_status) == ("paid", "succeeded")
    assert await _available(session, shop.variant_id) == 3
