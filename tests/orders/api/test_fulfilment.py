"""After payment: partial and full shipments, delivery, cancellations refused once shipped,
illegal transitions answered 409 with the current status, refunds on cancellation, and
returns within the vendor's window only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from factories.checkout import Shop, checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.inventory.models import Stock
from marketplace.orders.models.order import VendorOrder
from marketplace.platform.clock import utcnow


async def _order(
    client: httpx.AsyncClient, container: Container, *lines: tuple[Shop, int]
) -> tuple[dict[str, Any], dict[str, str]]:
    customer = await create_user(container)
    headers = auth_headers(container, customer)
    placed = await client.post("/v1/orders", json=checkout_body(*lines), headers=headers | key())
    assert placed.status_code == 201, placed.text
    return placed.json(), headers


def _part(order: dict[str, Any], shop: Shop) -> dict[str, Any]:
    return next(v for v in order["vendor_orders"] if v["vendor_id"] == shop.vendor.id)


async def test_partial_then_full_shipment_then_delivery(
    client: httpx.AsyncClient, container: Container
) -> None:
    shop = await make_shop(container)
    order, headers = await _order(client, container, (shop, 3))
    part = _part(order, shop)
    item = part["items"][0]["id"]
    vendor = auth_headers(container, shop.vendor.owner)
    base = f"/v1/vendors/{shop.vendor.id}/orders/{part['id']}"

    first = await client.post(
        f"{base}/ship",
        json={
            "carrier": "dhl",
            "tracking_number": "JD014600006101234501",
            "items": [{"order_item_id": item, "quantity": 1}],
        },
        headers=vendor,
    )
    middle = (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()
    too_many = await client.post(
        f"{base}/ship",
        json={
            "carrier": "dhl",
            "tracking_number": "JD014600006101234502",
            "items": [{"order_item_id": item, "quantity": 3}],
        },
        headers=vendor,
    )
    rest = await client.post(
        f"{base}/ship",
        json={"carrier": "dhl", "tracking_number": "JD014600006101234502"},
        headers=vendor,
    )
    shipped = (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()
    delivered = await client.post(f"{base}/deliver", headers=vendor)
    final = (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()
    await container.jobs.drain()  # shipping follows the shipments
    tracking = (await client.get(f"/v1/orders/{order['id']}/tracking", headers=headers)).json()

    assert first.status_code == 200, first.text
    assert first.json()["status"] == "processing"
    assert (middle["status"], middle["vendor_orders"][0]["items"][0]["shipped_quantity"]) == (
        "paid",
        1,
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["loc"] == ["body", "items", 0, "quantity"]
    assert rest.json()["status"] == "shipped"
    assert shipped["status"] == "shipped"
    assert delivered.json()["status"] == "delivered"
    assert final["status"] == "delivered"
    assert [
        (v["vendor_order_id"], [s["tracking_number"] for s in v["shipments"]])
        for v in tracking["vendor_orders"]
    ] == [(part["id"], ["JD014600006101234501", "JD014600006101234502"])]


async def test_illegal_transitions_answer_409_with_the_current_status(
    client: httpx.AsyncClient, container: Container
) -> None:
    shop = await make_shop(container)
    order, _ = await _order(client, container, (shop, 1))
    part = _part(order, shop)
    vendor = auth_headers(container, shop.vendor.owner)
    base = f"/v1/vendors/{shop.vendor.id}/orders/{part['id']}"

    early = await client.post(f"{base}/deliver", headers=vendor)
    await client.post(
        f"{base}/ship",
        json={"carrier": "ups", "tracking_number": "1Z999AA10123456784"},
        headers=vendor,
    )
    again = await client.post(
        f"{base}/ship",
        json={"carrier": "ups", "tracking_number": "1Z999AA10123456784"},
        headers=vendor,
    )
    late_cancel = await client.post(f"{base}/cancel", json={"reason": "oops"}, headers=vendor)

    assert (early.status_code, early.json()["status"]) == (409, "processing")
    assert (again.status_code, again.json()["status"]) == (409, "shipped")
    assert (late_cancel.status_code, late_cancel.json()["status"]) == (409, "shipped")


async def test_cancel_is_refused_for_the_vendor_order_that_shipped(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    fast, slow = await make_shop(container), await make_shop(container, quantity=4)
    order, headers = await _order(client, container, (fast, 1), (slow, 2))
    fast_part, slow_part = _part(order, fast), _part(order, slow)
    await client.post(
        f"/v1/vendors/{fast.vendor.id}/orders/{fast_part['id']}/ship",
        json={"carrier": "dhl", "tracking_number": "1234567801"},
        headers=auth_headers(container, fast.vendor.owner),
    )

    whole = await client.post(f"/v1/orders/{order['id']}/cancel", json={}, headers=headers)
    shipped_part = await client.post(
        f"/v1/orders/{order['id']}/cancel",
        json={"vendor_order_id": fast_part["id"]},
        headers=headers,
    )
    other_part = await client.post(
        f"/v1/orders/{order['id']}/cancel",
        json={"vendor_order_id": slow_part["id"], "reason": "changed my mind"},
        headers=headers,
    )
    await container.jobs.drain()  # the refund goes through the provider
    after = (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()

    assert (whole.status_code, whole.json()["status"]) == (409, "shipped")
    assert (shipped_part.status_code, shipped_part.json()["status"]) == (409, "shipped")
    assert other_part.status_code == 200, other_part.text
    assert {v["id"]: v["status"] for v in after["vendor_orders"]} == {
        fast_part["id"]: "shipped",
        slow_part["id"]: "canceled",
    }
    assert after["status"] == "shipped"
    assert _part(after, slow)["refunded"]["amount"] == slow_part["totals"]["total"]["amount"]
    stock = await session.scalar(select(Stock.on_hand).where(Stock.variant_id == slow.variant_id))
    assert stock == 4


async def test_a_return_outside_the_window_is_refused_and_inside_it_refunds(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    shop = await make_shop(container, return_window_days=14)
    order, headers = await _order(client, container, (shop, 2))
    part = _part(order, shop)
    vendor = auth_headers(container, shop.vendor.owner)
    base = f"/v1/vendors/{shop.vendor.id}/orders/{part['id']}"
    await client.post(
        f"{base}/ship", json={"carrier": "dhl", "tracking_number": "1234567802"}, headers=vendor
    )
    await client.post(f"{base}/deliver", headers=vendor)
    item = part["items"][0]
    body = {"items": [{"order_item_id": item["id"], "quantity": 1}], "reason": "damaged"}

    await session.execute(
        update(VendorOrder)
        .where(VendorOrder.id == part["id"])
        .values(delivered_at=utcnow() - timedelta(days=15))
    )
    await session.commit()
    late = await client.post(f"/v1/orders/{order['id']}/returns", json=body, headers=headers)
    await session.execute(
        update(VendorOrder)
        .where(VendorOrder.id == part["id"])
        .values(delivered_at=utcnow() - timedelta(days=13))
    )
    await session.commit()
    made = await client.post(f"/v1/orders/{order['id']}/returns", json=body, headers=headers)
    approved = await client.post(
        f"/v1/vendors/{shop.vendor.id}/returns/{made.json()['id']}/approve",
        json={"restock": True},
        headers=vendor,
    )
    twice = await client.post(
        f"/v1/vendors/{shop.vendor.id}/returns/{made.json()['id']}/approve",
        json={},
        headers=vendor,
    )
    await container.jobs.drain()
    after = (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()

    assert late.status_code == 422
    assert late.json()["errors"][0]["code"] == "return_window_closed"
    assert made.status_code == 201, made.text
    assert made.json()["refund"] == {"amount": item["total"]["amount"] // 2, "currency": "EUR"}
    assert approved.json()["status"] == "approved"
    assert twice.status_code == 409
    assert after["status"] == "partially_refunded"
    assert after["refunded"]["amount"] == item["total"]["amount"] // 2


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("ship", {"carrier": "dhl", "tracking_number": "1234567803"}),
        ("deliver", None),
        ("cancel", {"reason": "x"}),
    ],
)
async def test_other_vendors_cannot_touch_a_vendor_order(
    client: httpx.AsyncClient, container: Container, path: str, body: dict[str, str] | None
) -> None:
    shop, stranger = await make_shop(container), await make_shop(container)
    order, _ = await _order(client, container, (shop, 1))
    part = _part(order, shop)

    answer = await client.post(
        f"/v1/vendors/{stranger.vendor.id}/orders/{part['id']}/{path}",
        json=body,
        headers=auth_headers(container, stranger.vendor.owner),
    )

    assert answer.status_code == 404


async def test_orders_complete_when_the_last_return_window_closes(
    client: httpx.AsyncClient, container: Container, session: AsyncSession
) -> None:
    from marketplace.orders.models.order import Order
    from marketplace.orders.service import fulfilment

    early, late = await make_shop(container, return_window_days=7), await make_shop(container)
    order, headers = await _order(client, container, (early, 1), (late, 1))
    for shop in (early, late):
        base = f"/v1/vendors/{shop.vendor.id}/orders/{_part(order, shop)['id']}"
        vendor = auth_headers(container, shop.vendor.owner)
        await client.post(
            f"{base}/ship", json={"carrier": "dhl", "tracking_number": "1234567804"}, headers=vendor
        )
        await client.post(f"{base}/deliver", headers=vendor)
    row = await session.get(Order, order["id"], populate_existing=True)
    assert row is not None
    assert row.completes_at is not None
    delivered = row.completes_at - timedelta(days=30)  # the later window is the 30-day one

    async def sweep_at(days_after_delivery: int) -> str:
        await session.execute(
            update(VendorOrder)
            .where(VendorOrder.order_id == order["id"])
            .values(delivered_at=utcnow() - timedelta(days=days_after_delivery))
        )
        await session.execute(
            update(Order)
            .where(Order.id == order["id"])
            .values(completes_at=utcnow() - timedelta(days=days_after_delivery - 30))
        )
        await session.commit()
        async with container.uow_factory() as uow:
            await fulfilment.complete_orders(uow)
            await uow.commit()
        return str(
            (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()["status"]
        )

    assert delivered <= utcnow()
    assert await sweep_at(10) == "delivered"  # the 7-day window closed, the 30-day one not
    assert await sweep_at(31) == "completed"
