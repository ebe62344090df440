"""Redelivered messages change nothing: following the same shipped event twice opens one
shipment and registers one EasyPost tracker; registering again calls EasyPost no more."""

from __future__ import annotations

import responses
from sqlalchemy import func, select

from factories.carriers import easypost_tracker
from factories.shipping import EASYPOST_BASE, UPS_NUMBER
from marketplace.bootstrap import Container
from marketplace.orders.events import VendorOrderShipped
from marketplace.platform.clock import utcnow
from marketplace.platform.messaging import Message
from marketplace.platform.models import OutboxMessage
from marketplace.shipping import handlers
from marketplace.shipping.carriers import Carriers
from marketplace.shipping.models import TrackedShipment
from marketplace.shipping.service.tracking import REGISTER_JOB


def _message(kind: str, name: str, payload: dict[str, object]) -> Message:
    return Message(
        id="msg_redelivered",
        kind=kind,  # type: ignore[arg-type]
        name=name,
        payload=payload,
        occurred_at=utcnow(),
        attempt=2,
    )


async def test_a_redelivered_shipped_event_and_register_job_change_nothing(
    container: Container, carriers: Carriers
) -> None:
    shipped = VendorOrderShipped(
        vendor_order_id="vor_1",
        order_id="ord_1",
        vendor_id="ven_1",
        customer_id="usr_1",
        shipment_id="shp_1",
        carrier="ups",
        tracking_number=UPS_NUMBER,
        complete=True,
    )
    event = _message("event", VendorOrderShipped.name, shipped.model_dump(mode="json"))
    job = _message("job", REGISTER_JOB, {"shipment_id": "shp_1"})

    for _ in range(2):
        async with container.uow_factory() as uow:
            await handlers.follow_shipment(uow, event)
            await uow.commit()
    with responses.RequestsMock() as easypost:
        easypost.add(
            responses.POST,
            f"{EASYPOST_BASE}/trackers",
            json=easypost_tracker("trk_1", UPS_NUMBER, "unknown"),
            status=201,
        )
        for _ in range(2):
            async with container.uow_factory() as uow:
                await handlers.register_shipment(uow, job)
                await uow.commit()
        calls = len(easypost.calls)

    async with container.db.session() as session:
        followed = list(await session.scalars(select(TrackedShipment)))
        register_jobs = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.name == REGISTER_JOB)
        )
    assert [(s.id, s.carrier_ref, s.status) for s in followed] == [
        ("shp_1", "trk_1", "label_created")
    ]
    assert (register_jobs, calls) == (1, 1)
