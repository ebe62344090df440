"""Normalised tracking statuses, carrier events, and the one rule deriving a shipment's
status from the events stored for it.

Carriers report in their own words (EasyPost `pre_transit`, DHL `transit`, FedEx `OD`); the
adapters map them to the six statuses below. Events arrive late, twice and out of order (a
webhook retried, a poll overlapping a webhook), so the status is never "the last event
received": it is derived from the whole set of stored events, by a total order that does
not depend on arrival:

1. A final event (`delivered`, `returned`) outranks every non-final one: a parcel that was
   delivered is not "in transit" again because an old scan arrived late.
2. Among events of the same class, the one that happened last (`occurred_at`) wins.
3. At the same instant, the higher rank wins (`returned` > `delivered`; `exception` >
   `out_for_delivery` > `in_transit` > `label_created`), then the event key, so the
   result is the same for any permutation of the same events (hypothesis-tested).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

TrackingStatus = Literal[
    "label_created", "in_transit", "out_for_delivery", "delivered", "exception", "returned"
]
STATUSES: Final[tuple[TrackingStatus, ...]] = (
    "label_created",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "exception",
    "returned",
)
FINAL: Final[frozenset[str]] = frozenset({"delivered", "returned"})
# Ties at the same instant: the more advanced (or more alarming) news wins.
RANK: Final[dict[str, int]] = {
    "label_created": 0,
    "in_transit": 1,
    "out_for_delivery": 2,
    "exception": 3,
    "delivered": 4,
    "returned": 5,
}
INITIAL_STATUS: Final[TrackingStatus] = "label_created"


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    """One scan or status report of a parcel, normalised."""

    status: TrackingStatus
    occurred_at: datetime
    description: str | None = None
    location: str | None = None

    @property
    def key(self) -> str:
        """Identifies the same report arriving again (webhook retry, overlapping poll)."""
        raw = "|".join(
            (
                self.status,
                self.occurred_at.isoformat(),
                self.description or "",
                self.location or "",
            )
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:40]


def is_final(status: str) -> bool:
    return status in FINAL


def _order(event: CarrierEvent) -> tuple[bool, datetime, int, str]:
    return (event.status in FINAL, event.occurred_at, RANK[event.status], event.key)


def deciding_event(events: Iterable[CarrierEvent]) -> CarrierEvent | None:
    """The event that decides the status (see the module docstring); None without events."""
    return max(events, key=_order, default=None)


def derive_status(events: Iterable[CarrierEvent]) -> TrackingStatus:
    decided = deciding_event(events)
    return INITIAL_STATUS if decided is None else decided.status
