"""Polling carriers without webhooks (DHL, FedEx).

A periodic sweep queues one poll job per due shipment, pushing its `next_poll_at` forward by
a conditional update first, so a shipment is queued once however many sweeps overlap. A
poll that brings news resets the shipment's interval to the base one; a poll with nothing
new (or a carrier that did not answer) doubles it, up to the maximum. A final status
(`delivered`, `returned`) clears `next_poll_at`: the parcel is never asked about again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from marketplace.platform.clock import utcnow
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping import repository as repo
from marketplace.shipping.carriers import Carriers
from marketplace.shipping.domain.adapter import CarrierUnavailable
from marketplace.shipping.domain.tracking import is_final
from marketplace.shipping.service.tracking import record_events, request_of, snapshot

logger = logging.getLogger(__name__)

POLL_JOB: Final = "shipping.poll_shipment"
SWEEP_BATCH: Final = 200


async def queue_due_polls(uow: UnitOfWork, *, now: datetime | None = None) -> int:
    """Queue a poll for each shipment that is due; how many were queued."""
    now = now or utcnow()
    queued = 0
    for shipment_id, seen, interval in await repo.due_for_polling(
        uow.session, now=now, limit=SWEEP_BATCH
    ):
        # The lease: if the poll job is lost, the shipment is due again one interval later.
        lease = now + timedelta(seconds=max(interval, 60))
        if await repo.claim_poll(uow.session, shipment_id, seen=seen, until=lease):
            uow.enqueue(POLL_JOB, {"shipment_id": shipment_id})
            queued += 1
    return queued


def next_interval(carriers: Carriers, current_seconds: int, *, news: bool) -> int:
    base = int(carriers.poll_interval.total_seconds())
    if news:
        return base
    ceiling = int(carriers.max_poll_interval.total_seconds())
    return min(max(current_seconds, base) * 2, ceiling)


async def poll_shipment(
    uow: UnitOfWork, carriers: Carriers, *, shipment_id: str, now: datetime | None = None
) -> bool:
    """Ask the carrier about one shipment (no transaction open during the call) and record
    the answer. Returns whether the carrier was asked."""
    seen = await snapshot(uow, shipment_id)
    if seen is None or is_final(seen.status):
        return False
    adapter = carriers.get(seen.tracker)
    if adapter is None or not adapter.polls:
        return False
    try:
        events = await adapter.track(request_of(seen))
        answered = True
    except CarrierUnavailable:
        logger.warning("carrier did not answer a poll", extra={"shipment_id": shipment_id})
        events, answered = (), False
    shipment = await repo.shipment(uow.session, shipment_id, lock=True)
    if shipment is None:
        return False
    recorded = await record_events(uow, shipment, events, source="poll")
    now = now or utcnow()
    shipment.last_polled_at = now
    if is_final(shipment.status):
        shipment.next_poll_at = None
    else:
        interval = next_interval(
            carriers, shipment.poll_interval_seconds, news=answered and recorded.new_events > 0
        )
        shipment.poll_interval_seconds = interval
        shipment.next_poll_at = now + timedelta(seconds=interval)
    shipment.updated_at = now
    await uow.session.flush()
    return True
