"""The `manual` carrier adapter: no carrier API; the vendor enters the parcel's status
updates (`POST /v1/vendors/{vid}/shipments/{sid}/events`). Always enabled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from marketplace.shipping.domain.adapter import (
    NothingToRegister,
    Registration,
    TrackingUpdate,
    TrackRequest,
)
from marketplace.shipping.domain.tracking import CarrierEvent


class ManualAdapter:
    name = "manual"
    registers = False
    polls = False
    webhooks = False

    def tracks(self, carrier: str) -> bool:
        return True

    async def register(self, request: TrackRequest) -> Registration:
        raise NothingToRegister("manual shipments are not registered anywhere")

    async def track(self, request: TrackRequest) -> Sequence[CarrierEvent]:
        return ()

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> TrackingUpdate:
        raise ValueError("the manual carrier sends no webhooks")
