"""Outbox, relay and deliveries: at-least-once transport, exactly-once handling, no loss."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.bootstrap import Container
from marketplace.platform.clock import utcnow
from marketplace.platform.jobs import run_delivery
from marketplace.platform.messaging import Message
from marketplace.platform.models import Delivery, OutboxMessage
from marketplace.platform.outbox import relay_once, sweep_deliveries
from marketplace.platform.uow import UnitOfWork
from marketplace.platform.worker import RELAY_BATCH, JobRuntime
from support import NoteHandled, NoteWritten, count_handled

HANDLER = "tests.record_note"


def subscribe_recorder(container: Container, calls: list[str]) -> None:
    @container.registry.subscribe(NoteWritten, name=HANDLER)
    async def record(uow: UnitOfWork, message: Message) -> None:
        calls.append(message.id)
        uow.publish(NoteHandled(source_message_id=message.id))


async def publish_note(container: Container, text: str = "hello") -> str:
    async with container.uow_factory() as uow:
        message_id = uow.publish(NoteWritten(text=text))
        await uow.commit()
    return message_id


class Collect:
    """A transport that only remembers what it was asked to deliver."""

    def __init__(self) -> None:
        self.kicked: list[str] = []

    async def __call__(self, delivery_ids: Sequence[str]) -> None:
        self.kicked.extend(delivery_ids)


async def test_event_is_published_once_and_handled_once_when_delivered_twice(
    container: Container, session: AsyncSession
) -> None:
    calls: list[str] = []
    subscribe_recorder(container, calls)
    message_id = await publish_note(container)
    transport = Collect()

    published = await relay_once(container.db, container.registry, transport)
    published_again = await relay_once(container.db, container.registry, transport)
    assert (published, published_again) == (1, 0)
    assert len(transport.kicked) == 1

    delivery_id = transport.kicked[0]
    first = await run_delivery(container.uow_factory, container.registry, delivery_id)
    duplicate = await run_delivery(container.uow_factory, container.registry, delivery_id)

    assert (first.outcome, duplicate.outcome) == ("succeeded", "skipped")
    assert calls == [message_id]
    assert await count_handled(session) == 1
    delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)


async def test_each_subscriber_gets_its_own_delivery(
    container: Container, session: AsyncSession
) -> None:
    seen: list[str] = []

    @container.registry.subscribe(NoteWritten, name="tests.first")
    async def first(uow: UnitOfWork, message: Message) -> None:
        seen.append("first")

    @container.registry.subscribe(NoteWritten, name="tests.second")
    async def second(uow: UnitOfWork, message: Message) -> None:
        seen.append("second")

    await publish_note(container)
    await container.jobs.drain()

    assert sorted(seen) == ["first", "second"]
    handlers = (await session.scalars(select(Delivery.handler).order_by(Delivery.handler))).all()
    assert handlers == ["tests.first", "tests.second"]


async def test_a_subscriber_gets_no_delivery_of_a_message_it_has_no_use_for(
    container: Container, session: AsyncSession
) -> None:
    seen: list[tuple[str, str]] = []

    @container.registry.subscribe(NoteWritten, name="tests.every")
    async def every(uow: UnitOfWork, message: Message) -> None:
        seen.append(("every", str(message.payload["text"])))

    @container.registry.subscribe(
        NoteWritten, name="tests.picky", unless=lambda payload: payload["text"] == "skip me"
    )
    async def picky(uow: UnitOfWork, message: Message) -> None:
        seen.append(("picky", str(message.payload["text"])))

    await publish_note(container, "skip me")
    await publish_note(container, "keep me")
    await container.jobs.drain()

    assert sorted(seen) == [("every", "keep me"), ("every", "skip me"), ("picky", "keep me")]
    handlers = (await session.scalars(select(Delivery.handler).order_by(Delivery.handler))).all()
    assert handlers == ["tests.every", "tests.every", "tests.picky"]


async def test_no_event_is_lost_when_the_process_dies_between_commit_and_publish(
    container: Container, session: AsyncSession
) -> None:
    calls: list[str] = []
    subscribe_recorder(container, calls)

    # The change commits with its outbox row; the process dies before any relay runs
    # (no nudge reaches a relay: there is none).
    message_id = await publish_note(container)
    assert calls == []

    # A relay that claimed the message and died before fanning it out leaves a lease...
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(claimed_until=utcnow() + timedelta(seconds=30))
    )
    await session.commit()
    assert await relay_once(container.db, container.registry, Collect()) == 0

    # ...which expires; the next process's relay publishes it and the handler runs once.
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(claimed_until=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    await container.jobs.drain()

    assert calls == [message_id]
    assert await count_handled(session) == 1


async def test_no_delivery_is_lost_when_the_process_dies_before_the_broker_has_it(
    container: Container, session: AsyncSession
) -> None:
    calls: list[str] = []
    subscribe_recorder(container, calls)
    message_id = await publish_note(container)

    async def die(delivery_ids: Sequence[str]) -> None:
        raise ConnectionError("process killed while sending to the broker")

    with pytest.raises(ConnectionError):
        await relay_once(container.db, container.registry, die)
    assert calls == []

    # Within the grace period the sweeper leaves it (it may still be in the broker).
    assert await sweep_deliveries(container.db, Collect()) == 0
    await session.execute(update(Delivery).values(kicked_at=utcnow() - timedelta(minutes=5)))
    await session.commit()
    assert await sweep_deliveries(container.db, container.jobs.kick) == 1

    assert calls == [message_id]
    assert await count_handled(session) == 1


async def test_failing_handler_is_retried_with_backoff_and_then_dead_lettered(
    container: Container, session: AsyncSession
) -> None:
    attempts: list[int] = []

    @container.registry.subscribe(NoteWritten, name="tests.always_fails")
    async def fails(uow: UnitOfWork, message: Message) -> None:
        attempts.append(message.attempt)
        uow.publish(NoteHandled(source_message_id=message.id))  # must be rolled back
        raise RuntimeError("smtp down")

    await publish_note(container)
    transport = Collect()
    await relay_once(container.db, container.registry, transport)
    delivery_id = transport.kicked[0]

    outcomes = []
    for _ in range(3):
        result = await run_delivery(
            container.uow_factory, container.registry, delivery_id, max_attempts=3
        )
        outcomes.append(result.outcome)
    after_dead = await run_delivery(
        container.uow_factory, container.registry, delivery_id, max_attempts=3
    )

    assert outcomes == ["failed", "failed", "dead"]
    assert after_dead.outcome == "skipped"
    assert attempts == [1, 2, 3]
    assert await count_handled(session) == 0
    delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    await session.refresh(delivery)
    assert delivery.status == "dead"
    assert delivery.last_error == "RuntimeError: smtp down"


def delivered(handler: str, outcome: str) -> float:
    labels = {"handler": handler, "outcome": outcome}
    return REGISTRY.get_sample_value("job_deliveries_total", labels) or 0.0


async def test_deliveries_are_counted_by_handler_and_outcome(container: Container) -> None:
    @container.registry.subscribe(NoteWritten, name="tests.counted")
    async def flaky(uow: UnitOfWork, message: Message) -> None:
        if message.attempt == 1:
            raise RuntimeError("first attempt fails")

    @container.registry.subscribe(NoteWritten, name="tests.counted_dead")
    async def broken(uow: UnitOfWork, message: Message) -> None:
        raise RuntimeError("never works")

    before = {
        (handler, outcome): delivered(handler, outcome)
        for handler in ("tests.counted", "tests.counted_dead")
        for outcome in ("succeeded", "failed", "dead")
    }
    await publish_note(container)
    transport = Collect()
    await relay_once(container.db, container.registry, transport)
    for _ in range(2):
        for delivery_id in transport.kicked:
            await run_delivery(
                container.uow_factory, container.registry, delivery_id, max_attempts=2
            )

    counted = {key: delivered(*key) - value for key, value in before.items()}
    assert counted == {
        ("tests.counted", "succeeded"): 1,
        ("tests.counted", "failed"): 1,
        ("tests.counted", "dead"): 0,
        ("tests.counted_dead", "succeeded"): 0,
        ("tests.counted_dead", "failed"): 1,
        ("tests.counted_dead", "dead"): 1,
    }


async def test_failed_delivery_waits_for_its_backoff_before_the_sweeper_retries(
    container: Container, session: AsyncSession
) -> None:
    @container.registry.subscribe(NoteWritten, name="tests.fails_once")
    async def fails(uow: UnitOfWork, message: Message) -> None:
        raise RuntimeError("temporary")

    await publish_note(container)
    transport = Collect()
    await relay_once(container.db, container.registry, transport)
    before = utcnow()
    await run_delivery(container.uow_factory, container.registry, transport.kicked[0])

    delivery = await session.get(Delivery, transport.kicked[0])
    assert delivery is not None
    assert delivery.next_attempt_at >= before + timedelta(seconds=2)
    await session.execute(update(Delivery).values(kicked_at=None))
    await session.commit()
    assert await sweep_deliveries(container.db, Collect()) == 0


async def test_enqueued_job_runs_with_its_payload(container: Container) -> None:
    received: list[dict[str, object]] = []

    @container.registry.job("tests.make_thumbnails")
    async def make_thumbnails(uow: UnitOfWork, message: Message) -> None:
        received.append(dict(message.payload))

    async with container.uow_factory() as uow:
        uow.enqueue("tests.make_thumbnails", {"image_id": "img_1"})
        await uow.commit()
    await container.jobs.drain()

    assert received == [{"image_id": "img_1"}]


async def test_rolled_back_unit_of_work_publishes_nothing_and_skips_callbacks(
    container: Container, session: AsyncSession
) -> None:
    callbacks: list[str] = []

    async def remember() -> None:
        callbacks.append("ran")

    async with container.uow_factory() as uow:
        uow.publish(NoteWritten(text="never"))
        uow.after_commit(remember)
        await uow.flush()
        # Leaving without commit() rolls back.

    count = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert count == 0
    assert callbacks == []


async def test_after_commit_callback_runs_once_the_change_is_durable(
    container: Container,
) -> None:
    callbacks: list[int] = []

    async with container.uow_factory() as uow:
        uow.publish(NoteWritten(text="x"))

        async def remember() -> None:
            callbacks.append(len(uow.pending_messages))

        uow.after_commit(remember)
        assert callbacks == []
        await uow.commit()

    assert callbacks == [0]


async def test_two_relays_racing_fan_out_each_message_once(live_container: Container) -> None:
    calls: list[str] = []
    subscribe_recorder(live_container, calls)
    for i in range(30):
        await publish_note(live_container, f"note {i}")
    transports = [Collect(), Collect()]

    await asyncio.gather(
        *(
            relay_once(live_container.db, live_container.registry, t, batch_size=10)
            for t in transports
            for _ in range(3)
        )
    )
    while await relay_once(live_container.db, live_container.registry, transports[0]):
        pass

    kicked = transports[0].kicked + transports[1].kicked
    assert len(kicked) == len(set(kicked)) == 30
    async with live_container.db.session() as session:
        deliveries = await session.scalar(select(func.count()).select_from(Delivery))
    assert deliveries == 30


async def test_duplicate_deliveries_racing_run_the_handler_once(live_container: Container) -> None:
    calls: list[str] = []
    subscribe_recorder(live_container, calls)
    await publish_note(live_container)
    transport = Collect()
    await relay_once(live_container.db, live_container.registry, transport)

    results = await asyncio.gather(
        *(
            run_delivery(live_container.uow_factory, live_container.registry, transport.kicked[0])
            for _ in range(5)
        )
    )

    assert sorted(r.outcome for r in results) == ["skipped"] * 4 + ["succeeded"]
    assert len(calls) == 1
    async with live_container.db.session() as session:
        assert await count_handled(session) == 1


async def test_in_process_runtime_relays_and_handles_after_commit(
    live_container: Container,
) -> None:
    calls: list[str] = []
    subscribe_recorder(live_container, calls)
    await live_container.jobs.start(loops=True)

    message_id = await publish_note(live_container)
    for _ in range(500):
        if calls:
            break
        await asyncio.sleep(0.01)

    assert calls == [message_id]


async def test_before_commit_hooks_run_once_per_key_inside_the_transaction(
    container: Container, session: AsyncSession
) -> None:
    ran: list[str] = []

    async def append_note(uow: UnitOfWork) -> None:
        ran.append("hook")
        uow.publish(NoteWritten(text="written by the hook"))

    async with container.uow_factory() as uow:
        uow.before_commit("notes", append_note)
        uow.before_commit("notes", append_note)
        await uow.commit()
    async with container.uow_factory() as uow:
        uow.before_commit("notes", append_note)
        # rolled back: the hook never runs

    assert ran == ["hook"]
    count = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert count == 1


async def test_a_worker_stopped_mid_handler_leaves_the_delivery_as_it_was(
    container: Container, session: AsyncSession
) -> None:
    runs: list[int] = []

    @container.registry.subscribe(NoteWritten, name="tests.stopped_then_fine")
    async def handle(uow: UnitOfWork, message: Message) -> None:
        runs.append(message.attempt)
        uow.publish(NoteHandled(source_message_id=message.id))
        await uow.flush()
        if len(runs) == 1:
            raise asyncio.CancelledError  # the worker is shut down half-way

    await publish_note(container)
    transport = Collect()
    await relay_once(container.db, container.registry, transport)
    delivery_id = transport.kicked[0]

    with pytest.raises(asyncio.CancelledError):
        await run_delivery(container.uow_factory, container.registry, delivery_id)

    delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    assert delivery.status == "pending"
    assert await count_handled(session) == 0
    if container.db.dialect == "postgresql":
        # No lease to wait out and no attempt used up: the claim rolled back with the work.
        assert (delivery.attempts, delivery.locked_until) == (0, None)
    else:
        # SQLite commits the claim first (one writer): the next run waits out the lease.
        assert delivery.attempts == 1
        assert delivery.locked_until is not None
        await session.execute(
            update(Delivery).where(Delivery.id == delivery_id).values(locked_until=None)
        )
        await session.commit()
    again = await run_delivery(container.uow_factory, container.registry, delivery_id)
    assert again.outcome == "succeeded"
    assert len(runs) == 2
    assert await count_handled(session) == 1


async def test_in_process_deliveries_run_at_most_the_configured_number_at_once(
    live_container: Container,
) -> None:
    running: list[int] = [0]
    most: list[int] = [0]
    handled: list[str] = []

    @live_container.registry.subscribe(NoteWritten, name="tests.slow_note")
    async def slow(uow: UnitOfWork, message: Message) -> None:
        running[0] += 1
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0.01)
        running[0] -= 1
        handled.append(message.id)

    runtime = JobRuntime(live_container.uow_factory, live_container.registry, concurrency=2)
    await runtime.startup()
    try:
        published = [await publish_note(live_container, f"note {n}") for n in range(8)]
        await runtime.drain()
    finally:
        await runtime.stop()

    assert sorted(handled) == sorted(published)
    assert most[0] == 2


async def test_the_relay_goes_again_at_once_only_while_a_backlog_is_left(
    container: Container,
) -> None:
    # A full batch leaves more behind: the loop runs again without waiting. A partial one
    # means the outbox is caught up: the next pass waits for a nudge or the tick, so a
    # sale's messages are relayed in batches rather than a handful per pass.
    runtime = JobRuntime(container.uow_factory, container.registry, inline=True)
    await runtime.startup()
    try:
        async with container.uow_factory() as uow:
            for n in range(RELAY_BATCH + 5):
                uow.publish(NoteWritten(text=f"note {n}"))
            await uow.commit()

        assert await runtime._relay_step() is True
        assert await runtime._relay_step() is False
        async with container.db.session() as session:
            left = await session.scalar(
                select(func.count()).where(OutboxMessage.published_at.is_(None))
            )
        assert left == 0
        assert await runtime._relay_step() is False
    finally:
        await runtime.stop()
