"""EasyPost Trackers through the official `easypost` SDK.

A tracker is created per shipment (`POST /v2/trackers`, `client.tracker.create`); EasyPost
then calls our webhook with `tracker.updated` Events whose `result` is the Tracker, signed
with HMAC-SHA256 of the raw body under the webhook secret normalised to NFKD, sent as
`X-Hmac-Signature: hmac-sha256-hex=<hex>` (verified with the SDK's `validate_webhook`).
The SDK is synchronous (requests): calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from easypost.easypost_client import EasyPostClient
from easypost.errors.general.easypost_error import EasyPostError
from easypost.errors.general.signature_verification_error import SignatureVerificationError
from easypost.util import validate_webhook

from marketplace.shipping.carriers._time import join_place, parse_time
from marketplace.shipping.domain.adapter import (
    CarrierUnavailable,
    InvalidSignature,
    Registration,
    TrackingUpdate,
    TrackRequest,
)
from marketplace.shipping.domain.tracking import CarrierEvent, TrackingStatus

# Our carrier codes -> EasyPost's carrier names.
CARRIER_NAMES: Final[dict[str, str]] = {
    "dhl": "DHLExpress",
    "fedex": "FedEx",
    "ups": "UPS",
    "usps": "USPS",
}
# EasyPost tracker / tracking detail statuses -> ours (`unknown` carries no news).
STATUSES: Final[dict[str, TrackingStatus]] = {
    "pre_transit": "label_created",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "available_for_pickup": "out_for_delivery",
    "delivered": "delivered",
    "return_to_sender": "returned",
    "failure": "exception",
    "error": "exception",
    "cancelled": "exception",
}


def tracker_events(tracker: Mapping[str, Any]) -> list[CarrierEvent]:
    """A Tracker's `tracking_details`, normalised (unknown statuses and undated ones skipped)."""
    events: list[CarrierEvent] = []
    for detail in tracker.get("tracking_details") or ():
        status = STATUSES.get(str(detail.get("status")))
        at = parse_time(detail.get("datetime"))
        if status is None or at is None:
            continue
        place = detail.get("tracking_location") or {}
        events.append(
            CarrierEvent(
                status=status,
                occurred_at=at,
                description=(detail.get("message") or detail.get("description") or None),
                location=join_place(place.get("city"), place.get("state"), place.get("country")),
            )
        )
    return events


class EasyPostAdapter:
    name = "easypost"
    registers = True
    polls = False
    webhooks = True

    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        timeout_seconds: int = 30,
    ) -> None:
        self._client = EasyPostClient(api_key, timeout=timeout_seconds)
        if api_base:
            self._client.api_base = api_base
        self._secret = webhook_secret

    def tracks(self, carrier: str) -> bool:
        return carrier in CARRIER_NAMES

    async def register(self, request: TrackRequest) -> Registration:
        try:
            tracker = await asyncio.to_thread(
                self._client.tracker.create,
                tracking_code=request.tracking_number,
                carrier=CARRIER_NAMES[request.carrier],
            )
        except EasyPostError as error:
            raise CarrierUnavailable(f"easypost: {error}") from error
        data: dict[str, Any] = tracker.to_dict()
        return Registration(carrier_ref=str(data["id"]), events=tracker_events(data))

    async def track(self, request: TrackRequest) -> Sequence[CarrierEvent]:
        if request.carrier_ref is None:
            return ()
        try:
            tracker = await asyncio.to_thread(self._client.tracker.retrieve, request.carrier_ref)
        except EasyPostError as error:
            raise CarrierUnavailable(f"easypost: {error}") from error
        return tracker_events(tracker.to_dict())

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> TrackingUpdate:
        signature = headers.get("x-hmac-signature")
        try:
            event = validate_webhook(
                body, {"X-Hmac-Signature": signature} if signature else {}, self._secret
            )
        except SignatureVerificationError as error:
            raise InvalidSignature(str(error)) from None
        if not isinstance(event, dict) or event.get("object") != "Event" or not event.get("id"):
            raise ValueError("not an EasyPost Event")
        result = event.get("result")
        if not str(event.get("description", "")).startswith("tracker.") or not isinstance(
            result, dict
        ):
            return TrackingUpdate(event_id=str(event["id"]), tracking_number=None, carrier_ref=None)
        return TrackingUpdate(
            event_id=str(event["id"]),
            tracking_number=result.get("tracking_code"),
            carrier_ref=result.get("id"),
            events=tracker_events(result),
        )
