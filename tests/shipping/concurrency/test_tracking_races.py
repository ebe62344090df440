"""Reports of one parcel racing each other, on the real engine with real commits (on
PostgreSQL, truly in parallel): every distinct report is stored, the status converges, and
the news is published once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from factories.carriers import easypost_detail, easypost_event, easypost_signature, easypost_tracker
from factories.shipping import UPS_NUMBER, enable_carriers
from marketplace.bootstrap import Container
from marketplace.platform.clock import utcnow
from marketplace.platform.models import OutboxMessage
from marketplace.shipping import repository as repo
from marketplace.shipping.carriers import Carriers
from marketplace.shipping.models import CarrierWebhook, TrackedShipment, TrackingEvent
from marketplace.shipping.service import webhooks


def _iso(hours_ago: int) -> str:
    return (utcnow() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _open(container: Container) -> None:
    now = utcnow()
    async with container.uow_factory() as uow:
        await repo.insert_shipment(
            uow.session,
            {
                "id": "shp_race",
                "order_id": "ord_race",
                "vendor_order_id": "vor_race",
                "vendor_id": "ven_race",
                "customer_id": "usr_race",
                "carrier": "ups",
                "tracking_number": UPS_NUMBER,
                "tracker": "easypost",
                "carrier_ref": "trk_race",
                "status": "label_created",
                "status_at": None,
                "delivered_at": None,
                "next_poll_at": None,
                "poll_interval_seconds": 3600,
                "last_polled_at": None,
                "created_at": now,
                "updated_at": now,
            },
        )
        await uow.commit()


async def _deliver(container: Container, carriers: Carriers, body: bytes) -> bool:
    async with container.uow_factory() as uow:
        receipt = await webhooks.receive_webhook(
            uow,
            carriers,
            carrier="easypost",
            body=body,
            headers={"x-hmac-signature": easypost_signature(body)},
        )
        await uow.commit()
    return receipt.duplicate


async def test_racing_webhooks_store_every_report_and_publish_delivery_once(
    live_container: Container,
) -> None:
    carriers = enable_carriers(live_container)
    await _open(live_container)
    delivered = easypost_detail("delivered", _iso(1), "Delivered", "Berkeley")
    # Six distinct events, three of them sent twice: each says delivered, with its own scan.
    bodies = [
        easypost_event(
            f"evt_race_{i % 6}",
            easypost_tracker(
                "trk_race",
                UPS_NUMBER,
                "delivered",
                [easypost_detail("in_transit", _iso(10 + i % 6), f"Scan {i % 6}"), delivered],
            ),
        )
        for i in range(9)
    ]

    duplicates = await asyncio.gather(*(_deliver(live_container, carriers, b) for b in bodies))

    assert sorted(duplicates) == [False] * 6 + [True] * 3
    async with live_container.db.session() as session:
        shipment = await session.get(TrackedShipment, "shp_race")
        assert shipment is not None
        assert (shipment.status, shipment.next_poll_at) == ("delivered", None)
        assert await session.scalar(select(func.count()).select_from(CarrierWebhook)) == 6
        statuses = list(
            await session.scalars(select(TrackingEvent.status).order_by(TrackingEvent.occurred_at))
        )
        assert statuses == ["in_transit"] * 6 + ["delivered"]
        published = list(
            await session.scalars(
                select(OutboxMessage.name)
                .where(OutboxMessage.name.like("shipping.%"))
                .order_by(OutboxMessage.seq)
            )
        )
    assert published == ["shipping.tracking_updated.v1", "shipping.shipment_delivered.v1"]
