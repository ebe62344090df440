"""Carrier webhooks: verify, store once, apply.

The adapter verifies the signature (a bad one is a 400 and nothing is stored) and
normalises the body; the webhook is stored unless its (carrier, carrier event id) already
is (a unique constraint decides, so a retried delivery changes nothing), and its events are
recorded at once on the shipments it is about, in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping import repository as repo
from marketplace.shipping.carriers import Carriers
from marketplace.shipping.domain.adapter import InvalidSignature
from marketplace.shipping.errors import CarrierNotFound, InvalidWebhookSignature
from marketplace.shipping.service.tracking import record_events

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Receipt:
    event_id: str
    duplicate: bool
    shipments: int


async def receive_webhook(
    uow: UnitOfWork,
    carriers: Carriers,
    *,
    carrier: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime | None = None,
) -> Receipt:
    """`headers` with lower-case names. Never commits."""
    adapter = carriers.get(carrier)
    if adapter is None or not adapter.webhooks:
        raise CarrierNotFound(f"no enabled carrier {carrier!r} sends webhooks")
    try:
        update = adapter.parse_webhook(body, headers, now or utcnow())
        payload: Any = orjson.loads(body)
    except (InvalidSignature, ValueError) as error:
        raise InvalidWebhookSignature(str(error)) from None
    stored = await repo.insert_webhook(
        uow.session,
        {
            "id": new_id("cwh"),
            "carrier": carrier,
            "event_id": update.event_id[:100],
            "payload": payload if isinstance(payload, dict) else {"body": payload},
            "received_at": utcnow(),
        },
    )
    if not stored:
        return Receipt(update.event_id, duplicate=True, shipments=0)
    found = await repo.shipments_by_tracking(
        uow.session,
        tracker=carrier,
        tracking_number=update.tracking_number,
        carrier_ref=update.carrier_ref,
    )
    if not found and update.events:
        logger.warning(
            "carrier webhook for no known shipment",
            extra={"carrier": carrier, "event": update.event_id},
        )
    for candidate in found:
        shipment = await repo.shipment(uow.session, candidate.id, lock=True)
        if shipment is None:
            continue
        if shipment.carrier_ref is None and update.carrier_ref:
            shipment.carrier_ref = update.carrier_ref
        await record_events(uow, shipment, update.events, source="webhook")
    return Receipt(update.event_id, duplicate=False, shipments=len(found))
