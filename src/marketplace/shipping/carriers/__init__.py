"""The enabled carrier adapters (`Carriers`) and how code without a request reaches them.

Built once per container by the composition root from settings; `manual` is always there.
Which adapter follows a parcel is decided when the shipment is opened (`tracker_for`): the
carrier's own API when enabled (DHL, FedEx), else EasyPost when enabled and it knows the
carrier, else `manual` (the vendor enters the updates). Jobs and handlers have only a unit
of work, so the Carriers are bound to the container's `Database` (payments' `bind_gateways`
idea) and found with `carriers_for(uow)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from weakref import WeakKeyDictionary

from marketplace.platform.db import Database
from marketplace.platform.uow import UnitOfWork
from marketplace.shipping.carriers.manual import ManualAdapter
from marketplace.shipping.domain.adapter import CarrierAdapter

# A carrier's own API is preferred over an aggregator's when both are enabled.
_DIRECT: dict[str, str] = {"dhl": "dhl", "fedex": "fedex"}


class Carriers:
    """The enabled adapters by name, and the polling policy read with them."""

    def __init__(
        self,
        adapters: Iterable[CarrierAdapter],
        *,
        poll_interval: timedelta = timedelta(hours=1),
        max_poll_interval: timedelta = timedelta(hours=24),
    ) -> None:
        self._adapters: dict[str, CarrierAdapter] = {"manual": ManualAdapter()}
        self._adapters.update({a.name: a for a in adapters})
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval

    @property
    def enabled(self) -> tuple[str, ...]:
        return tuple(self._adapters)

    def get(self, name: str) -> CarrierAdapter | None:
        return self._adapters.get(name)

    def __getitem__(self, name: str) -> CarrierAdapter:
        adapter = self._adapters.get(name)
        if adapter is None:
            raise LookupError(f"carrier adapter {name!r} is not enabled")
        return adapter

    def tracker_for(self, carrier: str) -> CarrierAdapter:
        direct = self._adapters.get(_DIRECT.get(carrier, ""))
        if direct is not None and direct.tracks(carrier):
            return direct
        for adapter in self._adapters.values():
            if adapter.name != "manual" and adapter.tracks(carrier):
                return adapter
        return self._adapters["manual"]


_bound: WeakKeyDictionary[Database, Carriers] = WeakKeyDictionary()


def bind_carriers(db: Database, carriers: Carriers) -> None:
    """Called by the composition root once the container's adapters exist."""
    _bound[db] = carriers


def carriers_for(uow: UnitOfWork) -> Carriers:
    try:
        return _bound[uow.db]
    except KeyError:
        raise RuntimeError("no carriers bound to this database (bind_carriers)") from None
