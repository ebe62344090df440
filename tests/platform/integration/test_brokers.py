"""The job runtime over real brokers: RabbitMQ (taskiq-aio-pika) and Redis Streams.

An event committed through a unit of work travels outbox → relay → broker → consumer →
handler, exactly once, over a real connection. Each test uses its own queue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

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

    for _ in range(1000):
        if calls:
            break
        await asyncio.sleep(0.01)
    # A redelivered duplicate would show up as a second call: give it a moment.
    await asyncio.sleep(0.3)

    assert calls == [message_id]
    async with broker_container.db.session() as session:
        assert await count_handled(session) == 1


async def test_broker_url_scheme_is_checked() -> None:
    from marketplace.platform.worker import build_broker

    with pytest.raises(ValueError, match="unsupported broker URL scheme: kafka"):
        build_broker("kafka://localhost:9092")
