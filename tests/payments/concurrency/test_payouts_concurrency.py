"""Payouts under concurrency, on the real engine with real commits (on PostgreSQL, truly in
parallel): racing payouts of one vendor never take more than its available balance, and
racing requests with one key make one payout."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from factories.payouts import earn, payable_vendor
from marketplace.bootstrap import Container
from marketplace.payments.errors import PayoutExceedsAvailable
from marketplace.payments.models import LedgerPosting, Payout
from marketplace.payments.service import payouts
from marketplace.platform.money import Money


async def _request(container: Container, vendor_id: str, key: str, amount: int) -> str | None:
    async with container.uow_factory() as uow:
        try:
            view = await payouts.request_payout(
                uow,
                container.payment_gateways,
                vendor_id=vendor_id,
                amount=Money(amount, "EUR"),
                idempotency_key=key,
                actor_id="usr_race",
                actor_role="vendor:owner",
            )
        except PayoutExceedsAvailable:
            return None
        await uow.commit()
    return view.id


async def test_racing_payouts_never_exceed_the_available_balance(
    live_container: Container,
) -> None:
    vendor = await payable_vendor(live_container)
    await earn(live_container, vendor.id, 10_000)

    outcomes = await asyncio.gather(
        *(_request(live_container, vendor.id, f"race-{i}", 3_000) for i in range(8))
    )

    accepted = [o for o in outcomes if o is not None]
    assert (len(accepted), outcomes.count(None)) == (3, 5)
    async with live_container.db.session() as session:
        assert await session.scalar(select(func.sum(Payout.amount))) == 9_000
        available = await session.scalar(
            select(func.sum(LedgerPosting.amount)).where(
                LedgerPosting.account == f"vendor_available:{vendor.id}"
            )
        )
        assert -int(available or 0) == 1_000


async def test_racing_requests_with_one_key_make_one_payout(live_container: Container) -> None:
    vendor = await payable_vendor(live_container)
    await earn(live_container, vendor.id, 5_000)

    outcomes = await asyncio.gather(
        *(_request(live_container, vendor.id, "same-key", 2_000) for _ in range(6))
    )

    assert len(set(outcomes)) == 1
    assert outcomes[0] is not None
    async with live_container.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Payout)) == 1
        reserved = await session.scalar(
            select(func.sum(LedgerPosting.amount)).where(
                LedgerPosting.account == f"payouts_in_transit:{vendor.id}"
            )
        )
        assert reserved == -2_000
