"""Payouts for the authorization matrix: vendor 1 made payable (KYC verified; its payout
account is set by the matrix world) with available money, one of its payouts, and a run."""

from __future__ import annotations

import weakref
from typing import Protocol

from factories.payouts import earn, set_kyc
from marketplace.bootstrap import Container
from marketplace.payments.service import payout_schedules, payouts

# Per world (its container, held weakly so a later container at the same address is not
# mistaken for it): the payout and run made once, whoever asks first.
_made: dict[int, tuple[weakref.ref[Container], str, str]] = {}


class PayoutWorld(Protocol):
    container: Container
    vendor_1: str


async def _setup(world: PayoutWorld) -> tuple[str, str]:
    key = id(world.container)
    known = _made.get(key)
    if known is None or known[0]() is not world.container:
        container = world.container
        await set_kyc(container, world.vendor_1, "verified")
        await earn(container, world.vendor_1, 50_000)
        async with container.uow_factory() as uow:
            payout = await payouts.request_payout(
                uow,
                container.payment_gateways,
                vendor_id=world.vendor_1,
                amount=None,
                idempotency_key="matrix-first",
                actor_id="usr_matrix",
                actor_role="vendor:owner",
            )
            await uow.commit()
        await earn(container, world.vendor_1, 50_000)
        async with container.uow_factory() as uow:
            run = await payout_schedules.run_payouts(
                uow, container.payment_gateways, trigger="admin", actor_id="usr_matrix"
            )
            await uow.commit()
        assert run is not None
        _made[key] = (weakref.ref(container), payout.id, run.id)
    _, payout_id, run_id = _made[key]
    return payout_id, run_id


async def payout_of_vendor_1(world: PayoutWorld, caller: str) -> dict[str, str]:
    payout_id, _ = await _setup(world)
    return {"vid": world.vendor_1, "payout_id": payout_id}


async def payout_request(world: PayoutWorld, caller: str) -> dict[str, str]:
    await _setup(world)
    return {"vid": world.vendor_1, "!Idempotency-Key": f"matrix-payout-{caller}"}


async def a_run(world: PayoutWorld, caller: str) -> dict[str, str]:
    _, run_id = await _setup(world)
    return {"run_id": run_id}
