"""What every carrier adapter offers, in plain values (the carrier's own objects never leave
its adapter)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from marketplace.shipping.domain.tracking import CarrierEvent


class CarrierUnavailable(Exception):
    """The carrier did not answer, or answered with an error: try again later."""


class InvalidSignature(Exception):
    """A webhook whose signature does not verify."""


@dataclass(frozen=True, slots=True)
class TrackRequest:
    """What an adapter needs to know about a parcel."""

    shipment_id: str
    carrier: str  # our carrier code: dhl, fedex, ups, usps, other
    tracking_number: str
    carrier_ref: str | None = None  # the adapter's own id for it (an EasyPost tracker)


@dataclass(frozen=True, slots=True)
class Registration:
    carrier_ref: str
    events: Sequence[CarrierEvent] = ()


@dataclass(frozen=True, slots=True)
class TrackingUpdate:
    """A verified webhook: the carrier's event id (deduplication) and the parcel's events."""

    event_id: str
    tracking_number: str | None
    carrier_ref: str | None
    events: Sequence[CarrierEvent] = field(default_factory=tuple)


class NothingToRegister(Exception):
    """`register` called on an adapter whose `registers` is False: the tracking service never
    does, so this is a programming error, not a carrier's answer."""


class CarrierAdapter(Protocol):
    """`registers`: the adapter must be told about a parcel before it reports on it
    (EasyPost trackers). `polls`: we ask it periodically. `webhooks`: it calls us."""

    name: str
    registers: bool
    polls: bool
    webhooks: bool

    def tracks(self, carrier: str) -> bool:
        """Whether this adapter can follow parcels of our carrier code."""
        ...

    async def register(self, request: TrackRequest) -> Registration:
        """Start tracking (raises CarrierUnavailable; NothingToRegister where `registers` is
        False)."""
        ...

    async def track(self, request: TrackRequest) -> Sequence[CarrierEvent]:
        """Every event the carrier knows of the parcel (raises CarrierUnavailable)."""
        ...

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> TrackingUpdate:
        """Verify (raises InvalidSignature) and normalise (raises ValueError) a webhook."""
        ...
