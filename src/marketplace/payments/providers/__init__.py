"""The configured payment providers (`Gateways`) and how code without a request reaches them.

`Gateways` is built once per container by the composition root from settings. HTTP handlers
get it with `public.GatewaysDep` (from `app.state`). Jobs and facade functions receive only
a unit of work, so the composition root also binds the Gateways to the container's
`Database` (`bind_gateways`), and `gateways_for(uow)` finds it through `uow.db`: the one
object a container shares with every unit of work it makes, so two containers in one
process (tests) never see each other's providers. This is catalog's `bind_storage` idea,
keyed by the database instead of the registry because the facade (`start_payment`) has a
unit of work but no registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from weakref import WeakKeyDictionary

from marketplace.payments.providers.base import (
    ChargeRequest,
    ChargeResult,
    InvalidSignature,
    PaymentProvider,
    ProviderError,
    ProviderEvent,
    ProviderRecord,
    ProviderUnavailable,
    RecordKind,
    RefundRequest,
    RefundResult,
    TransferRequest,
    TransferResult,
    VerifiesWebhooksRemotely,
)
from marketplace.platform.crypto import FieldCipher
from marketplace.platform.db import Database
from marketplace.platform.uow import UnitOfWork

__all__ = [
    "ChargeRequest",
    "ChargeResult",
    "Gateways",
    "InvalidSignature",
    "PaymentProvider",
    "ProviderError",
    "ProviderEvent",
    "ProviderRecord",
    "ProviderUnavailable",
    "RecordKind",
    "RefundRequest",
    "RefundResult",
    "TransferRequest",
    "TransferResult",
    "VerifiesWebhooksRemotely",
    "bind_gateways",
    "gateways_for",
]


class Gateways:
    """The enabled providers by name, and the payment policies read with them.

    `cipher` decrypts vendors' payout details for a transfer (jobs have no request to take
    it from). Payouts go through the first enabled provider: the one whose clearing account
    holds the money in a single-provider setup."""

    def __init__(
        self,
        providers: Iterable[PaymentProvider],
        *,
        hold_period: timedelta = timedelta(days=7),
        chargeback_reverses_commission: bool = True,
        cipher: FieldCipher | None = None,
    ) -> None:
        self._providers: dict[str, PaymentProvider] = {p.name: p for p in providers}
        self.hold_period = hold_period
        # A lost dispute is a sale undone: by default the platform gives its commission back
        # like on a refund; False makes the vendor bear the commission too.
        self.chargeback_reverses_commission = chargeback_reverses_commission
        self.cipher = cipher

    @property
    def payout_provider(self) -> str | None:
        return next(iter(self._providers), None)

    @property
    def enabled(self) -> tuple[str, ...]:
        return tuple(self._providers)

    def get(self, name: str) -> PaymentProvider | None:
        return self._providers.get(name)

    def __getitem__(self, name: str) -> PaymentProvider:
        provider = self._providers.get(name)
        if provider is None:
            raise LookupError(f"payment provider {name!r} is not enabled")
        return provider

    @property
    def providers(self) -> Mapping[str, PaymentProvider]:
        return dict(self._providers)


_bound: WeakKeyDictionary[Database, Gateways] = WeakKeyDictionary()


def bind_gateways(db: Database, gateways: Gateways) -> None:
    """Called by the composition root once the container's providers exist."""
    _bound[db] = gateways


def gateways_for(uow: UnitOfWork) -> Gateways:
    try:
        return _bound[uow.db]
    except KeyError:
        raise RuntimeError("no payment gateways bound to this database (bind_gateways)") from None
