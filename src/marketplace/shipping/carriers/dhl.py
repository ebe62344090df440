"""DHL Shipment Tracking - Unified API over httpx, polled (it has no webhooks for us).

`GET {base}/track/shipments?trackingNumber=…` with the `DHL-API-Key` header answers
`{"shipments": [{"id", "service", "status": {...}, "events": [{"timestamp", "location":
{"address": {"addressLocality", "countryCode", ...}}, "statusCode", "status",
"description"}]}]}`; 404 (problem+json) while DHL does not know the number yet.
`statusCode` is one of `pre-transit`, `transit`, `delivered`, `failure`, `unknown`; DHL has
no code of its own for "out for delivery" or "returned", which its texts say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import httpx

from marketplace.shipping.carriers._time import join_place, parse_time
from marketplace.shipping.domain.adapter import (
    CarrierUnavailable,
    NothingToRegister,
    Registration,
    TrackingUpdate,
    TrackRequest,
)
from marketplace.shipping.domain.tracking import CarrierEvent, TrackingStatus

BASE_URL: Final = "https://api-eu.dhl.com"
STATUS_CODES: Final[dict[str, TrackingStatus]] = {
    "pre-transit": "label_created",
    "transit": "in_transit",
    "delivered": "delivered",
    "failure": "exception",
}


def _status(event: Mapping[str, Any]) -> TrackingStatus | None:
    status = STATUS_CODES.get(str(event.get("statusCode")))
    text = f"{event.get('status') or ''} {event.get('description') or ''}".lower()
    if status in ("in_transit", "exception") and "returned" in text:
        return "returned"
    if status == "in_transit" and "out for delivery" in text:
        return "out_for_delivery"
    return status


def shipment_events(payload: Mapping[str, Any]) -> list[CarrierEvent]:
    events: list[CarrierEvent] = []
    for shipment in payload.get("shipments") or ():
        for event in shipment.get("events") or ():
            status, at = _status(event), parse_time(event.get("timestamp"))
            if status is None or at is None:
                continue
            address = (event.get("location") or {}).get("address") or {}
            events.append(
                CarrierEvent(
                    status=status,
                    occurred_at=at,
                    description=(event.get("description") or event.get("status") or None),
                    location=join_place(address.get("addressLocality"), address.get("countryCode")),
                )
            )
    return events


class DhlAdapter:
    name = "dhl"
    registers = False
    polls = True
    webhooks = False

    def __init__(
        self, *, api_key: str, base_url: str = BASE_URL, timeout_seconds: float = 15
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout_seconds

    def tracks(self, carrier: str) -> bool:
        return carrier == "dhl"

    async def register(self, request: TrackRequest) -> Registration:
        raise NothingToRegister("DHL is polled; nothing to register")

    async def track(self, request: TrackRequest) -> Sequence[CarrierEvent]:
        try:
            async with httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout) as http:
                response = await http.get(
                    "/track/shipments",
                    params={"trackingNumber": request.tracking_number},
                    headers={"DHL-API-Key": self._api_key, "Accept": "application/json"},
                )
        except httpx.HTTPError as error:
            raise CarrierUnavailable(f"dhl: {error!r}") from error
        if response.status_code == 404:
            return ()  # not scanned yet: nothing to report
        if response.status_code != 200:
            raise CarrierUnavailable(f"dhl answered {response.status_code}")
        try:
            payload = response.json()
        except ValueError as error:
            raise CarrierUnavailable("dhl answered something other than JSON") from error
        return shipment_events(payload)

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> TrackingUpdate:
        raise ValueError("DHL is polled; it sends no webhooks")
