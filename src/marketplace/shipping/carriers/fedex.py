"""FedEx Track API over httpx, polled.

OAuth 2.0 client credentials first (`POST {base}/oauth/token`, form `grant_type=
client_credentials&client_id&client_secret` → `{"access_token", "token_type": "bearer",
"expires_in": 3599, "scope"}`), kept until shortly before it expires; then
`POST {base}/track/v1/trackingnumbers` with `{"includeDetailedScans": true, "trackingInfo":
[{"trackingNumberInfo": {"trackingNumber": …}}]}` answers `output.completeTrackResults[].
trackResults[].scanEvents[]` (`date`, `eventType`, `eventDescription`, `derivedStatusCode`,
`scanLocation`). A rejected token is fetched again once.
"""

from __future__ import annotations

import time
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

BASE_URL: Final = "https://apis.fedex.com"
# FedEx (derived) status codes -> ours; anything else that moves the parcel is in transit.
CODES: Final[dict[str, TrackingStatus]] = {
    "OC": "label_created",
    "IN": "label_created",
    "OD": "out_for_delivery",
    "DL": "delivered",
    "DE": "exception",
    "SE": "exception",
    "CA": "exception",
    "DY": "exception",
    "CD": "exception",
    "RS": "returned",
    "RP": "returned",
}
TRANSIT: Final = frozenset({"PU", "IT", "AR", "DP", "AF", "FD", "HL", "CC", "PM", "TR", "IX"})


def _status(event: Mapping[str, Any]) -> TrackingStatus | None:
    for code in (event.get("derivedStatusCode"), event.get("eventType")):
        if code in CODES:
            return CODES[code]
        if code in TRANSIT:
            return "in_transit"
    return None


def track_events(payload: Mapping[str, Any]) -> list[CarrierEvent]:
    events: list[CarrierEvent] = []
    for complete in (payload.get("output") or {}).get("completeTrackResults") or ():
        for result in complete.get("trackResults") or ():
            for scan in result.get("scanEvents") or ():
                status, at = _status(scan), parse_time(scan.get("date"))
                if status is None or at is None:
                    continue
                place = scan.get("scanLocation") or {}
                events.append(
                    CarrierEvent(
                        status=status,
                        occurred_at=at,
                        description=(scan.get("eventDescription") or None),
                        location=join_place(
                            place.get("city"),
                            place.get("stateOrProvinceCode"),
                            place.get("countryCode"),
                        ),
                    )
                )
    return events


class FedexAdapter:
    name = "fedex"
    registers = False
    polls = True
    webhooks = False

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        base_url: str = BASE_URL,
        timeout_seconds: float = 15,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout_seconds
        self._token: str | None = None
        self._token_expires = 0.0

    def tracks(self, carrier: str) -> bool:
        return carrier == "fedex"

    async def register(self, request: TrackRequest) -> Registration:
        raise NothingToRegister("FedEx is polled; nothing to register")

    async def _access_token(self, http: httpx.AsyncClient) -> str:
        if self._token is not None and time.monotonic() < self._token_expires:
            return self._token
        response = await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        if response.status_code != 200:
            raise CarrierUnavailable(f"fedex oauth answered {response.status_code}")
        body = response.json()
        self._token = str(body["access_token"])
        # Renew a minute early: a token expiring in flight would fail the call.
        self._token_expires = time.monotonic() + max(int(body.get("expires_in", 0)) - 60, 0)
        return self._token

    async def track(self, request: TrackRequest) -> Sequence[CarrierEvent]:
        body = {
            "includeDetailedScans": True,
            "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": request.tracking_number}}],
        }
        try:
            async with httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout) as http:
                for attempt in (1, 2):
                    token = await self._access_token(http)
                    response = await http.post(
                        "/track/v1/trackingnumbers",
                        json=body,
                        headers={"Authorization": f"Bearer {token}", "X-locale": "en_US"},
                    )
                    if response.status_code == 401 and attempt == 1:
                        self._token = None  # revoked or expired early: fetch a new one once
                        continue
                    break
        except httpx.HTTPError as error:
            raise CarrierUnavailable(f"fedex: {error!r}") from error
        if response.status_code != 200:
            raise CarrierUnavailable(f"fedex answered {response.status_code}")
        try:
            payload = response.json()
        except ValueError as error:
            raise CarrierUnavailable("fedex answered something other than JSON") from error
        return track_events(payload)

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> TrackingUpdate:
        raise ValueError("FedEx is polled here; it sends no webhooks")
