"""Jobs registered `batched`: the deliveries kicked together share one transaction (one
claim, the handlers, one completion, one commit); a failure anywhere in the batch rolls it
back and each delivery runs on its own, so only the failing one is counted and retried."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from marketplace.bootstrap import Container
from marketplace.platform.jobs import run_batch, run_delivery
from marketplace.platform.messaging import Message
from marketplace.platform.models import Delivery, OutboxMessage
from marketplace.platform.outbox import relay_once
from marketplace.platform.uow import UnitOfWork
from marketplace.platform.worker import JobRuntime
from support import NoteHandled, count_handled

JOB = "tests.batched_note"
ALONE = "tests.unbatched_note"
_XID = text("SELECT txid_current()")


@pytest.fixture
def postgres(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("batches run on PostgreSQL only (SQLite runs each delivery alone)")


class Seen:
    """What the handler saw per run: the payload's number and its transaction id."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []


def register(
    container: Container, seen: Seen, *, fail: int | None = None, commits: bool = False
) -> None:
    @container.registry.job(JOB, batched=True)
    async def note(uow: UnitOfWork, message: Message) -> None:
        number = int(message.payload["n"])
        seen.runs.append((number, int(await uow.session.scalar(_XID))))
        if number == fail:
            raise RuntimeError(f"note {number} fails")
        uow.publish(NoteHandled(source_message_id=message.id))
        if commits:
            await uow.commit()


async def enqueue(container: Container, count: int, job: str = JOB) -> None:
    async with container.uow_factory() as uow:
        for n in range(count):
            uow.enqueue(job, {"n": n})
        await uow.commit()


async def deliveries(container: Container) -> dict[int, Delivery]:
    """The job's deliveries by their payload's number."""
    async with container.db.session() as session:
        rows = (
            await session.execute(
                select(Delivery, OutboxMessage.payload)
                .join(OutboxMessage, OutboxMessage.id == Delivery.message_id)
                .where(Delivery.handler == JOB)
            )
        ).all()
        return {int(payload["n"]): delivery for delivery, payload in rows}


async def drain(container: Container) -> None:
    runtime = JobRuntime(container.uow_factory, container.registry, concurrency=4)
    await runtime.startup()
    try:
        await runtime.drain()
    finally:
        await runtime.stop()


@pytest.mark.usefixtures("postgres")
async def test_batched_deliveries_kicked_together_share_one_transaction(
    live_container: Container,
) -> None:
    seen = Seen()
    register(live_container, seen)
    await enqueue(live_container, 5)
    labels = {"handler": JOB, "outcome": "succeeded"}
    counted_before = REGISTRY.get_sample_value("job_deliveries_total", labels) or 0.0

    await drain(live_container)

    assert REGISTRY.get_sample_value("job_deliveries_total", labels) == counted_before + 5

    assert sorted(n for n, _ in seen.runs) == [0, 1, 2, 3, 4]
    assert len({xid for _, xid in seen.runs}) == 1
    done = await deliveries(live_container)
    assert {(d.status, d.attempts) for d in done.values()} == {("succeeded", 1)}
    async with live_container.db.session() as session:
        assert await count_handled(session) == 5


@pytest.mark.usefixtures("postgres")
async def test_a_failure_rolls_the_batch_back_and_each_runs_alone(
    live_container: Container,
) -> None:
    seen = Seen()
    register(live_container, seen, fail=2)
    await enqueue(live_container, 4)

    await drain(live_container)

    # Every note ran in the batch's transaction, then each in one of its own.
    batch_xid = seen.runs[0][1]
    assert sorted(n for n, xid in seen.runs if xid == batch_xid) == [0, 1, 2]
    alone = [(n, xid) for n, xid in seen.runs if xid != batch_xid]
    assert sorted(n for n, _ in alone) == [0, 1, 2, 3]
    assert len({xid for _, xid in alone}) == 4
    done = await deliveries(live_container)
    assert {n: (d.status, d.attempts) for n, d in done.items()} == {
        0: ("succeeded", 1),
        1: ("succeeded", 1),
        2: ("pending", 1),
        3: ("succeeded", 1),
    }
    assert "note 2 fails" in (done[2].last_error or "")
    async with live_container.db.session() as session:
        assert await count_handled(session) == 3


@pytest.mark.usefixtures("postgres")
async def test_a_batched_handler_that_commits_itself_runs_alone(
    live_container: Container,
) -> None:
    seen = Seen()
    register(live_container, seen, commits=True)
    await enqueue(live_container, 3)

    await drain(live_container)

    done = await deliveries(live_container)
    assert {(d.status, d.attempts) for d in done.values()} == {("succeeded", 1)}
    # The batch's run was refused its commit and rolled back: each note's effect once.
    async with live_container.db.session() as session:
        assert await count_handled(session) == 3
    (first, batch_xid), *alone = seen.runs
    assert first == 0
    assert sorted(n for n, _ in alone) == [0, 1, 2]
    assert batch_xid not in {xid for _, xid in alone}
    assert len({xid for _, xid in alone}) == 3


@pytest.mark.usefixtures("postgres")
async def test_a_batch_takes_only_pending_deliveries_of_batched_jobs(
    live_container: Container,
) -> None:
    seen = Seen()
    register(live_container, seen)

    @live_container.registry.job(ALONE)
    async def alone(uow: UnitOfWork, message: Message) -> None:
        raise AssertionError("not a batched job: the batch must leave it")

    await enqueue(live_container, 3)
    await enqueue(live_container, 1, job=ALONE)
    kicked: list[str] = []

    async def collect(ids: Sequence[str]) -> None:
        kicked.extend(ids)

    await relay_once(live_container.db, live_container.registry, collect)
    by_number = {n: d.id for n, d in (await deliveries(live_container)).items()}
    first = await run_delivery(live_container.uow_factory, live_container.registry, by_number[0])
    assert first.outcome == "succeeded"
    seen.runs.clear()

    ran = await run_batch(live_container.uow_factory, live_container.registry, kicked)

    assert sorted(r.delivery_id for r in ran) == sorted([by_number[1], by_number[2]])
    assert sorted(n for n, _ in seen.runs) == [1, 2]
    async with live_container.db.session() as session:
        other = (await session.scalars(select(Delivery).where(Delivery.handler == ALONE))).one()
        assert (other.status, other.attempts) == ("pending", 0)
    # A held job is left out too (a burst holds its handler).
    await enqueue(live_container, 2)
    kicked.clear()
    await relay_once(live_container.db, live_container.registry, collect)
    held = await run_batch(live_container.uow_factory, live_container.registry, kicked, hold={JOB})
    assert held == []
