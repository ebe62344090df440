"""One provider payment pays for one of our payments, even when two checkouts present it at
the same moment: on the real engine with real commits (on PostgreSQL two connections truly in
parallel, on SQLite one after the other), the second success to be recorded meets the unique
index on succeeded (provider, provider payment id) and is recorded as a failure instead."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from factories.payments import balances, events, ledger, share, start
from marketplace.bootstrap import Container
from marketplace.payments.events import PaymentFailed, PaymentSucceeded
from marketplace.payments.models import Payment
from marketplace.payments.repository.payment import payment_state
from marketplace.payments.service.payments import ALREADY_USED, _record_success, record_success

CHARGE = "ch_3MtwBwLkdIwHu7ix28a3tqPa"


async def _succeed(
    container: Container, payment_id: str, ready: asyncio.Barrier | None = None
) -> bool:
    async with container.uow_factory() as uow:
        current = await uow.session.get(Payment, payment_id)
        assert current is not None
        assert current.status == "pending"
        if ready is not None:
            # Both transactions are open and have read their payment before either records.
            await ready.wait()
        recorded = await record_success(
            uow, payment_id, provider_payment_id=CHARGE, captured=2_500, fee=100
        )
        await uow.commit()
    return recorded


async def test_two_payments_racing_to_succeed_with_one_charge_capture_it_once(
    live_container: Container, backend: str
) -> None:
    first = await start(live_container, [share("vnd_a", gross=2_500)], order_id="o_reuse_1")
    second = await start(live_container, [share("vnd_b", gross=2_500)], order_id="o_reuse_2")

    if backend == "postgresql":
        ready = asyncio.Barrier(2)
        outcomes = list(
            await asyncio.gather(
                _succeed(live_container, first.id, ready),
                _succeed(live_container, second.id, ready),
            )
        )
    else:  # one writer at a time: the second records after the first committed
        outcomes = [
            await _succeed(live_container, first.id),
            await _succeed(live_container, second.id),
        ]

    assert sorted(outcomes) == [False, True]
    winner, loser = (first, second) if outcomes[0] else (second, first)
    async with live_container.db.session() as session:
        rows = {
            p.id: (p.status, p.captured_amount, p.failure_code, p.provider_payment_id)
            for p in await session.scalars(select(Payment))
        }
        assert rows == {
            winner.id: ("succeeded", 2_500, None, CHARGE),
            loser.id: ("failed", 0, ALREADY_USED, CHARGE),
        }
        captured = await ledger(session)
        assert [kind for kind, _ in captured] == ["capture", "fee"]
        assert all(sum(amount for _, amount in postings) == 0 for _, postings in captured)
        assert sum((await balances(session)).values()) == 0
        succeeded = await events(session, PaymentSucceeded.name)
        failed = await events(session, PaymentFailed.name)
    assert [e["payment_id"] for e in succeeded] == [winner.id]
    assert [(e["payment_id"], e["failure_code"]) for e in failed] == [(loser.id, ALREADY_USED)]

    # A webhook naming only the charge finds the payment it paid for, not the refused one.
    async with live_container.db.session() as session:
        found = await payment_state(
            session, payment_id=None, provider="sandbox", provider_payment_id=CHARGE
        )
    assert found is not None
    assert (found.id, found.status) == (winner.id, "succeeded")


async def test_a_confirmation_meeting_a_charge_already_used_is_recorded_failed_and_commits(
    live_container: Container,
) -> None:
    first = await start(live_container, [share("vnd_a", gross=2_500)], order_id="o_reuse_3")
    second = await start(live_container, [share("vnd_b", gross=2_500)], order_id="o_reuse_4")
    assert await _succeed(live_container, first.id)

    # As confirm_payment records it: first in a transaction of its own, without a savepoint.
    async with live_container.uow_factory() as uow:
        decided = await _record_success(
            uow,
            second.id,
            provider_payment_id=CHARGE,
            captured=2_500,
            fee=100,
            synchronously=True,
        )
        await uow.commit()

    assert decided is not None
    assert (decided.status, decided.failure_code) == ("failed", ALREADY_USED)
    async with live_container.db.session() as session:
        stored = await session.get(Payment, second.id)
        assert stored is not None
        assert (stored.status, stored.captured_amount) == ("failed", 0)
        failed = await events(session, PaymentFailed.name)
        assert [(e["payment_id"], e["confirmed_synchronously"]) for e in failed] == [
            (second.id, True)
        ]
        assert [kind for kind, _ in await ledger(session)] == ["capture", "fee"]
