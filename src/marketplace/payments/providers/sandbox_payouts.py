"""The SANDBOX provider's payouts (see `sandbox.py`): transfers it records in its own table,
keyed by our idempotency key, and settles asynchronously with a signed `payout.paid` or
`payout.failed` event, decided by the destination like Stripe's test bank accounts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from sqlalchemy import select

from marketplace.payments.models.sandbox import SandboxTransfer
from marketplace.payments.providers.base import (
    ProviderUnavailable,
    TransferRequest,
    TransferResult,
)
from marketplace.platform.clock import utcnow
from marketplace.platform.db import insert_ignore
from marketplace.platform.ids import new_id
from marketplace.platform.uow import UnitOfWork, UnitOfWorkFactory

# Payout destinations (IBAN, bank account number or wallet id) whose payouts fail, with the
# failure Stripe reports for its own test bank accounts; every other destination is paid.
TEST_DESTINATIONS: Final[Mapping[str, tuple[str, str]]] = {
    "DE62370400440532013001": ("no_account", "The bank account details do not match an account."),
    "000111111116": ("no_account", "The bank account details do not match an account."),
    "000111111113": ("account_closed", "The bank account has been closed."),
    "000222222227": ("insufficient_funds", "The payout could not be funded."),
    "000333333335": ("debit_not_authorized", "Debits are not authorized on this account."),
    "000444444440": ("invalid_currency", "The bank account cannot receive this currency."),
}
# A destination whose payout is made but whose response is lost once (ProviderUnavailable),
# to exercise retries with the same idempotency key.
TIMEOUT_DESTINATION: Final = "000999999991"


def _destination_number(destination: Mapping[str, str]) -> str:
    return (
        destination.get("iban")
        or destination.get("account_number")
        or destination.get("wallet_id")
        or ""
    )


class _Emitter(Protocol):
    def __call__(self, uow: UnitOfWork, type_: str, obj: dict[str, Any]) -> None: ...


class SandboxPayouts:
    """The payout half of `SandboxProvider` (which provides the factory and the emitter)."""

    _uow_factory: UnitOfWorkFactory
    _timed_out: set[str]
    _emit: _Emitter

    async def transfer(self, request: TransferRequest) -> TransferResult:
        """Create a payout (or find the one made with this key). It is accepted at once
        (`pending`); its outcome arrives as a signed `payout.paid` / `payout.failed` event,
        decided by the destination (`TEST_DESTINATIONS`)."""
        async with self._uow_factory() as uow:
            transfer = await self._transfer_by_key(uow, request.idempotency_key)
            if transfer is None:
                transfer = await self._create_transfer(uow, request)
            await uow.commit()
        if _destination_number(request.destination) == TIMEOUT_DESTINATION and (
            request.idempotency_key not in self._timed_out
        ):
            self._timed_out.add(request.idempotency_key)
            raise ProviderUnavailable("sandbox: the payout was made but the response was lost")
        return TransferResult(provider_transfer_id=transfer.id, status="pending")

    async def _transfer_by_key(self, uow: UnitOfWork, key: str) -> SandboxTransfer | None:
        found: SandboxTransfer | None = await uow.session.scalar(
            select(SandboxTransfer)
            .where(SandboxTransfer.idempotency_key == key)
            .execution_options(populate_existing=True)
        )
        return found

    async def _create_transfer(self, uow: UnitOfWork, request: TransferRequest) -> SandboxTransfer:
        number = _destination_number(request.destination)
        failure = TEST_DESTINATIONS.get(number)
        inserted = (
            await uow.session.execute(
                insert_ignore(
                    SandboxTransfer.__table__,  # type: ignore[arg-type]
                    uow.dialect,
                    [
                        {
                            "id": new_id("po"),
                            "idempotency_key": request.idempotency_key,
                            "amount": request.amount,
                            "currency": request.currency,
                            "destination_last4": number[-4:],
                            "status": "paid" if failure is None else "failed",
                            "failure_code": None if failure is None else failure[0],
                            "failure_message": None if failure is None else failure[1],
                            "meta": dict(request.metadata),
                            "created_at": utcnow(),
                        }
                    ],
                )
            )
        ).rowcount  # type: ignore[attr-defined]
        transfer = await self._transfer_by_key(uow, request.idempotency_key)
        assert transfer is not None
        if inserted == 1:
            # Only the call that made it announces it: a repeated key emits nothing new.
            kind = "payout.paid" if transfer.status == "paid" else "payout.failed"
            self._emit(uow, kind, _payout_object(transfer))
        return transfer


def _payout_object(transfer: SandboxTransfer) -> dict[str, Any]:
    """Shaped like Stripe's Payout object."""
    return {
        "id": transfer.id,
        "object": "payout",
        "amount": transfer.amount,
        "currency": transfer.currency.lower(),
        "arrival_date": int(transfer.created_at.timestamp()),
        "method": "standard",
        "type": "bank_account",
        "status": transfer.status,
        "failure_code": transfer.failure_code,
        "failure_message": transfer.failure_message,
        "destination": {"last4": transfer.destination_last4},
        "metadata": transfer.meta,
    }
