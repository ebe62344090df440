"""Issuing at most once under concurrency, on the real engine with real commits: the
subscriber and several first downloads race for the same receipt; one document is recorded,
one `ReceiptIssued` published, and every download gets the recorded bytes."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from factories.checkout import checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from marketplace.bootstrap import Container
from marketplace.orders.models.document import Document
from marketplace.orders.service import receipts
from marketplace.platform.models import OutboxMessage


async def test_concurrent_first_downloads_and_the_subscriber_issue_one_receipt(
    live_container: Container, make_live_client: Callable[..., httpx.AsyncClient]
) -> None:
    shop = await make_shop(live_container)
    customer = await create_user(live_container)
    headers = auth_headers(live_container, customer)

    async with make_live_client() as client:
        placed = await client.post(
            "/v1/orders", json=checkout_body((shop, 1)), headers=headers | key()
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]

        async def subscriber() -> None:
            async with live_container.uow_factory() as uow:
                await receipts.issue_documents(uow, order_id=order_id)
                await uow.commit()

        async def download() -> bytes:
            answer = await client.get(f"/v1/orders/{order_id}/receipt", headers=headers)
            assert answer.status_code == 200, answer.text
            return answer.content

        results = await asyncio.gather(subscriber(), *(download() for _ in range(6)))
    await live_container.jobs.drain()

    bodies = {body for body in results if body is not None}
    async with live_container.db.session() as session:
        rows = list(await session.scalars(select(Document).where(Document.order_id == order_id)))
        issued = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.name == "orders.receipt_issued.v1")
        )
    receipt = next(r for r in rows if r.kind == "receipt")
    assert sorted(r.kind for r in rows) == ["receipt", "vendor_statement"]
    assert issued == 1
    assert len(bodies) == 1
    assert hashlib.sha256(bodies.pop()).hexdigest() == receipt.sha256
    assert await live_container.storage.exists(receipt.storage_key)
