"""Two checkouts presenting the same authorised Razorpay payment, through POST /v1/orders on
the real Razorpay adapter (its HTTP served like Razorpay's API): when both fetched the payment
before either captured it, Razorpay answers both captures as theirs (the second finds it
captured with its own notes, written last), and only our unique index tells them apart. The
first is paid; the second is declined with `payment_method_already_used`, its stock released
and nothing posted for it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import responses
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from factories.checkout import checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from factories.payments import ledger
from marketplace.app import create_app
from marketplace.bootstrap import Container
from marketplace.inventory.models import Stock
from marketplace.orders.models.order import Order
from marketplace.payments.models import Payment

PAY = "pay_29QQoUBi66xm2f"
URL = f"https://api.razorpay.com/v1/payments/{PAY}"


@pytest.fixture
async def client(gateways_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=gateways_container, run_jobs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


class RacedPayment:
    """One Razorpay payment as two racing checkouts see it: both fetches happen before the
    first capture (they see it `authorized`), each writes its notes, the second capture is
    refused as already captured and its re-fetch shows the notes written last."""

    def __init__(self, amount: int) -> None:
        self.amount = amount
        self.status = "authorized"
        self.notes: dict[str, str] = {}
        self.fetches = 0

    def entity(self, status: str) -> dict[str, Any]:
        return {
            "id": PAY,
            "entity": "payment",
            "amount": self.amount,
            "currency": "EUR",
            "status": status,
            "method": "card",
            "captured": status == "captured",
            "notes": self.notes or [],
            "fee": 48 if status == "captured" else None,
            "tax": 8 if status == "captured" else None,
        }

    def fetch(self, _request: Any) -> tuple[int, dict[str, str], str]:
        self.fetches += 1
        stale = self.fetches <= 2  # both checkouts fetched before either captured
        return 200, {}, json.dumps(self.entity("authorized" if stale else self.status))

    def edit(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.notes = json.loads(request.body)["notes"]
        return 200, {}, json.dumps(self.entity(self.status))

    def capture(self, _request: Any) -> tuple[int, dict[str, str], str]:
        if self.status == "captured":
            error = {
                "error": {
                    "code": "BAD_REQUEST_ERROR",
                    "description": "This payment has already been captured",
                    "source": "business",
                    "step": "payment_capture",
                    "reason": "input_validation_failed",
                    "metadata": {},
                }
            }
            return 400, {}, json.dumps(error)
        self.status = "captured"
        return 200, {}, json.dumps(self.entity("captured"))


async def test_the_second_checkout_with_a_raced_payment_is_declined_and_releases_its_stock(
    gateways_container: Container, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await make_shop(gateways_container, quantity=6)
    first, second = await create_user(gateways_container), await create_user(gateways_container)
    body = checkout_body((shop, 2), payment_method=PAY)
    body["payment"]["provider"] = "razorpay"
    # What the cart costs, as the customer authorised it at Razorpay: one sandbox checkout.
    probe = await client.post(
        "/v1/orders",
        json=checkout_body((shop, 2)),
        headers=auth_headers(gateways_container, await create_user(gateways_container)) | key(),
    )
    assert probe.status_code == 201, probe.text
    amount = (await session.get(Order, probe.json()["id"])).total_amount  # type: ignore[union-attr]
    raced = RacedPayment(amount)

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, URL, callback=raced.fetch)
        rsps.add_callback(responses.PATCH, URL, callback=raced.edit)
        rsps.add_callback(responses.POST, f"{URL}/capture", callback=raced.capture)
        paid = await client.post(
            "/v1/orders", json=body, headers=auth_headers(gateways_container, first) | key()
        )
        declined = await client.post(
            "/v1/orders", json=body, headers=auth_headers(gateways_container, second) | key()
        )

    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "paid"
    assert declined.status_code == 402, declined.text
    problem = declined.json()
    assert problem["code"] == "payment_declined"
    order = await session.get(Order, problem["order_id"], populate_existing=True)
    assert order is not None
    assert (order.status, order.payment_status, order.failure_code) == (
        "canceled",
        "failed",
        "payment_method_already_used",
    )
    payments = {
        p.order_id: (p.status, p.captured_amount, p.provider_payment_id)
        for p in await session.scalars(
            select(Payment)
            .where(Payment.provider == "razorpay")
            .execution_options(populate_existing=True)
        )
    }
    assert payments == {
        paid.json()["id"]: ("succeeded", amount, PAY),
        order.id: ("failed", 0, PAY),
    }
    # Stock: 6, the probe's 2 and the paid order's 2 sold, the declined order's 2 released.
    stock = await session.scalar(
        select(Stock.on_hand - Stock.reserved)
        .where(Stock.variant_id == shop.variant_id)
        .execution_options(populate_existing=True)
    )
    assert stock == 2
    # One capture (and its fee) per paid order: the probe's and the first checkout's.
    assert [kind for kind, _ in await ledger(session)] == ["capture", "fee", "capture", "fee"]
