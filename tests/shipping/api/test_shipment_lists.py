"""The vendor's shipment list reads a fixed number of queries whatever the number of
shipments and events (no N+1), and pages newest first by keyset."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import event

from factories.identity import auth_headers
from factories.vendors import create_vendor
from marketplace.bootstrap import Container
from marketplace.platform.clock import utcnow
from marketplace.shipping import repository as repo
from marketplace.shipping.domain.tracking import CarrierEvent
from marketplace.shipping.service.tracking import record_events


async def _shipments(container: Container, vendor_id: str, count: int, start: int) -> list[str]:
    made = []
    async with container.uow_factory() as uow:
        for n in range(start, start + count):
            now = utcnow()
            shipment_id = f"shp_list_{n:03d}"
            await repo.insert_shipment(
                uow.session,
                {
                    "id": shipment_id,
                    "order_id": "ord_list",
                    "vendor_order_id": "vor_list",
                    "vendor_id": vendor_id,
                    "customer_id": "usr_list",
                    "carrier": "other",
                    "tracking_number": f"P-{n}",
                    "tracker": "manual",
                    "carrier_ref": None,
                    "status": "label_created",
                    "status_at": None,
                    "delivered_at": None,
                    "next_poll_at": None,
                    "poll_interval_seconds": 3600,
                    "last_polled_at": None,
                    "created_at": now + timedelta(seconds=n),
                    "updated_at": now,
                },
            )
            shipment = await repo.shipment(uow.session, shipment_id, lock=True)
            assert shipment is not None
            await record_events(
                uow,
                shipment,
                [
                    CarrierEvent("in_transit", now - timedelta(hours=2), f"scan {n}"),
                    CarrierEvent("out_for_delivery", now - timedelta(hours=1)),
                ],
                source="vendor",
            )
            made.append(shipment_id)
        await uow.commit()
    return made


async def test_the_vendor_list_runs_a_fixed_number_of_queries_and_pages_newest_first(
    client: httpx.AsyncClient, container: Container
) -> None:
    vendor = await create_vendor(container)
    headers = auth_headers(container, vendor.owner)
    url = f"/v1/vendors/{vendor.id}/shipments"
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = container.db.engine.sync_engine
    first = await _shipments(container, vendor.id, 1, 0)
    event.listen(engine, "before_cursor_execute", count)
    try:
        await client.get(url, headers=headers)
        few = len(statements)
        rest = await _shipments(container, vendor.id, 11, 1)
        statements.clear()
        page = await client.get(url, params={"limit": 8}, headers=headers)
        many = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    after = await client.get(
        url, params={"limit": 8, "cursor": page.json()["next_cursor"]}, headers=headers
    )

    assert few == many
    newest_first = list(reversed(first + rest))
    assert [s["id"] for s in page.json()["data"]] == newest_first[:8]
    assert [s["id"] for s in after.json()["data"]] == newest_first[8:]
    assert after.json()["next_cursor"] is None
    assert {s["status"] for s in page.json()["data"]} == {"out_for_delivery"}
    assert [len(s["events"]) for s in page.json()["data"]] == [2] * 8
