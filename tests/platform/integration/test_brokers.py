"""The job runtime over real brokers: RabbitMQ (taskiq-aio-pika) and Redis Streams.

An event committed through a unit of work travels outbox → relay → broker → consumer →
handler, exactly once, over a real connection. Each test uses its own queue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from marketplace.bootstrap import Container, build_container
from marketplace.platform.db import Database
from marketplace.platform.messaging import Message
from marketplace.platform.uow import UnitOfWork
from marketplace.platform.worker import ping_broker
from marketplace.settings import Settings
from support import NoteHandled, NoteWritten, count_handled, service_url


@pytest.fixture(params=["rabbitmq", "redis"])
async def broker_container(
    request: pytest.FixtureRequest, settings: Settings, live_container: Container
) -> AsyncIterator[Container]:
    if request.param == "rabbitmq":
        url = service_url("MARKETPLACE_TEST_RABBITMQ_URL")
    else:
        url = service_url("MARKETPLACE_TEST_REDIS_URL")
    try:
        await ping_broker(url)
    except Exception as error:
        pytest.fail(f"{request.param} unreachable: {error}", pytrace=False)
    queue = f"mk-test-{uuid.uuid4().hex[:12]}"
    db: Database = live_container.db
    container = build_container(
        settings.model_copy(update={"broker_url": url, "broker_queue": queue}), db=db
    )
    yield container
    await container.jobs.stop()
    await _drop_queue(url, queue)


async def _drop_queue(url: str, queue: str) -> None:
    if url.startswith("amqp"):
        import aio_pika

        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(queue)
    else:
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        try:
            await client.delete(queue)
        finally:
            await client.aclose()


async def _until_called(calls: list[str]) -> None:
    """Wait up to 10 s for the handler's first call."""
    for _ in range(1000):
        if calls:
            return
        await asyncio.sleep(0.01)


async def test_event_travels_through_the_broker_and_is_handled_once(
    broker_container: Container,
) -> None:
    calls: list[str] = []

    @broker_container.registry.subscribe(NoteWritten, name="tests.broker_recorder")
    async def record(uow: UnitOfWork, message: Message) -> None:
        calls.append(message.id)
        uow.publish(NoteHandled(source_message_id=message.id))

    await broker_container.jobs.start(loops=True, consume=True)
    async with broker_container.uow_factory() as uow:
        message_id = uow.publish(NoteWritten(text="over the wire"))
        await uow.commit()

    await _until_called(calls)
    # A redelivered duplicate would show up as a second call: give it a moment.
    await asyncio.sleep(0.3)

    assert calls == [message_id]
    async with broker_container.db.session() as session:
        assert await count_handled(session) == 1


async def test_a_batch_of_deliveries_is_one_broker_message_and_each_ends_on_its_own(
    broker_container: Container,
) -> None:
    """A checkout's fan-out travels as one broker message; a handler that fails in it is
    retried alone and the others of its batch succeed once."""
    from sqlalchemy import select

    from marketplace.platform.models import Delivery

    handled: list[str] = []
    sent: list[object] = []
    original_kiq = broker_container.jobs._deliver.kiq

    async def counting_kiq(*args: object, **kwargs: object) -> object:
        sent.append(args[0])
        return await original_kiq(*args, **kwargs)

    broker_container.jobs._deliver.kiq = counting_kiq  # type: ignore[method-assign]

    @broker_container.registry.subscribe(NoteWritten, name="tests.batch_ok")
    async def ok(uow: UnitOfWork, message: Message) -> None:
        handled.append(message.payload["text"])

    @broker_container.registry.subscribe(NoteWritten, name="tests.batch_failing")
    async def failing(uow: UnitOfWork, message: Message) -> None:
        if message.payload["text"] == "note 3":
            raise RuntimeError("refused")

    await broker_container.jobs.start(loops=True, consume=True)
    async with broker_container.uow_factory() as uow:
        for n in range(5):
            uow.publish(NoteWritten(text=f"note {n}"))
        await uow.commit()

    statuses: dict[tuple[str, str], str] = {}
    for _ in range(1000):
        async with broker_container.db.session() as session:
            rows = (await session.execute(select(Delivery.handler, Delivery.status))).all()
        statuses = {}
        for handler, status in rows:
            statuses[(handler, status)] = statuses.get((handler, status), 0) + 1  # type: ignore[assignment]
        if statuses.get(("tests.batch_ok", "succeeded")) == 5 and (
            statuses.get(("tests.batch_failing", "succeeded")) == 4
        ):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)

    assert sorted(handled) == [f"note {n}" for n in range(5)]
    assert statuses[("tests.batch_failing", "succeeded")] == 4  # type: ignore[comparison-overlap]
    assert statuses[("tests.batch_failing", "pending")] == 1  # type: ignore[comparison-overlap]
    # The ten deliveries were relayed together: the first broker message names them all
    # (later ones are the sweeper's retry of the failed one).
    async with broker_container.db.session() as session:
        ours = set(
            (
                await session.scalars(
                    select(Delivery.id).where(
                        Delivery.handler.in_(["tests.batch_ok", "tests.batch_failing"])
                    )
                )
            ).all()
        )
    assert len(ours) == 10
    assert isinstance(sent[0], list)
    assert ours <= set(sent[0])


async def test_a_consumer_whose_broker_connection_fails_is_restarted_and_goes_on(
    broker_container: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # What a Redis Streams consumer met after the worker process had been paused for 40 s:
    # its blocking read timed out and the listener ended. It used to end the consumer for
    # good while the relay went on queueing deliveries nobody took.
    jobs = broker_container.jobs
    listen = jobs.broker.listen
    failed: list[str] = []

    def failing_once() -> Any:
        if failed:
            return listen()

        async def dropped() -> AsyncIterator[Any]:
            failed.append("connection")
            raise ConnectionError("Timeout reading from the broker")
            yield  # an async generator, as the broker's listen is

        return dropped()

    monkeypatch.setattr(jobs.broker, "listen", failing_once)
    calls: list[str] = []

    @broker_container.registry.subscribe(NoteWritten, name="tests.broker_after_restart")
    async def record(uow: UnitOfWork, message: Message) -> None:
        calls.append(message.id)

    await jobs.start(loops=True, consume=True)
    async with broker_container.uow_factory() as uow:
        message_id = uow.publish(NoteWritten(text="after the consumer failed"))
        await uow.commit()
    await _until_called(calls)

    assert failed == ["connection"]
    assert calls == [message_id]
    assert jobs.consumer_restarts == 1
    assert "broker consumer failed; restarting it" in caplog.text


async def test_broker_url_scheme_is_checked() -> None:
    from marketplace.platform.worker import build_broker

    with pytest.raises(ValueError, match="unsupported broker URL scheme: kafka"):
        build_broker("kafka://localhost:9092")
