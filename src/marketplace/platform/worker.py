"""The job runtime: taskiq broker, outbox relay loop, delivery sweeper and scheduler loop.

The broker is only a transport for delivery ids; the database holds the truth (outbox and
deliveries), so a broker that loses a message costs latency, not work. Brokers per
deployment shape:

* unset URL: taskiq's in-memory broker, deliveries run as tasks inside `serve`;
* `amqp://...`: RabbitMQ through taskiq-aio-pika, consumed by `marketplace worker` processes;
* `redis://...`: Redis Streams through taskiq-redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from taskiq import AsyncBroker, InMemoryBroker
from taskiq.receiver import Receiver

from marketplace.platform.burst import BurstGauge, BurstPolicy
from marketplace.platform.clock import utcnow
from marketplace.platform.jobs import (
    DeliveryResult,
    batchable,
    run_batch,
    run_delivery,
    schedule_due_jobs,
)
from marketplace.platform.messaging import Registry
from marketplace.platform.observability.metrics import JOB_BURST_ACTIVE
from marketplace.platform.outbox import (
    high_water_mark,
    relay_once,
    sweep_deliveries,
)
from marketplace.platform.uow import UnitOfWorkFactory

logger = logging.getLogger(__name__)

DELIVER_TASK = "marketplace.deliver"
QUEUE_NAME = "marketplace.deliveries"
CONNECT_TIMEOUT_SECONDS = 2.0
# Deliveries per broker message. Small enough that a relay pass spreads over the consumers
# of a deployment with several workers, large enough that a pass of a sale's payment webhooks
# is one message, whose batched jobs then share one transaction (`run_batch`).
KICK_BATCH = 64
# Outbox messages a relay pass takes at most.
RELAY_BATCH = 200
DRAIN_ROUNDS = 50
STOP_GRACE_SECONDS = 10.0
# Pauses before restarting a broker consumer that ended on its own: 0.5 s, doubling to 30 s.
CONSUMER_RETRY_SECONDS = 0.5
CONSUMER_RETRY_CAP_SECONDS = 30.0


def build_broker(url: str | None, *, queue: str = QUEUE_NAME, inline: bool = False) -> AsyncBroker:
    if url is None:
        # inline: each kick runs to completion before the next (deterministic tests).
        return InMemoryBroker(await_inplace=inline)
    if url.startswith(("amqp://", "amqps://")):
        from taskiq_aio_pika import AioPikaBroker, Queue

        return AioPikaBroker(url=url, task_queues=[Queue(name=queue, routing_key=queue)])
    if url.startswith(("redis://", "rediss://")):
        from taskiq_redis import RedisStreamBroker

        # consumer_id "0": a new consumer group also reads what was queued before it existed.
        return RedisStreamBroker(
            url=url, queue_name=queue, consumer_group_name=queue, consumer_id="0"
        )
    raise ValueError(f"unsupported broker URL scheme: {url.split(':', 1)[0]}")


class JobRuntime:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        registry: Registry,
        *,
        broker_url: str | None = None,
        broker_queue: str = QUEUE_NAME,
        relay_interval: float = 0.2,
        sweep_interval: float = 5.0,
        schedule_interval: float = 1.0,
        max_attempts: int = 8,
        inline: bool = False,
        concurrency: int = 8,
        burst: BurstPolicy | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.registry = registry
        self.broker_url = broker_url
        self.broker = build_broker(broker_url, queue=broker_queue, inline=inline)
        self.relay_interval = relay_interval
        self.sweep_interval = sweep_interval
        self.schedule_interval = schedule_interval
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self.consumer_restarts = 0
        # Off unless configured: deferral is a deployment's choice (settings), not a default
        # of every runtime a test or a CLI one-shot builds.
        self.burst = BurstGauge(burst or BurstPolicy(threshold=0))
        self._draining = False
        self.concurrency = max(1, concurrency)
        # Inline (tests, profiling): a batch's deliveries run one after the other.
        self.sequential = inline
        # The in-memory broker starts a task per kick, however many are queued: without a
        # bound, a burst of deliveries (a flash sale's follow-ups) queues on the database
        # pool until its checkouts time out, starving the API requests that share it.
        slots = asyncio.Semaphore(self.concurrency)

        async def deliver_one(delivery_id: str) -> str:
            async with slots:
                result = await run_delivery(
                    self.uow_factory,
                    self.registry,
                    delivery_id,
                    max_attempts=self.max_attempts,
                    hold=self.held_handlers(),
                    held_since=self.held_since(),
                )
            return result.outcome

        async def deliver(delivery_ids: list[str] | str) -> list[str]:
            # A broker message names a batch of deliveries (one string: a message queued by
            # an older version). They run concurrently, bounded by the same slots as all
            # others, and each succeeds or fails on its own: one slow or failing handler
            # holds nothing else of its batch (a failing batched job has its batch run again
            # one by one).
            batch = [delivery_ids] if isinstance(delivery_ids, str) else delivery_ids
            if self.sequential:  # deterministic: one after the other, in the order relayed
                return [await deliver_one(delivery_id) for delivery_id in batch]
            # The batched jobs among them first, in one transaction and one slot (a flash
            # sale's payment webhooks: a commit and two bookkeeping statements each, alone).
            together: list[DeliveryResult] = []
            hold = self.held_handlers()
            if batchable(self.uow_factory.db, self.registry, len(batch), hold=hold):
                # Only then a slot: a message of other jobs does not wait for one in vain.
                async with slots:
                    together = await run_batch(self.uow_factory, self.registry, batch, hold=hold)
            ran: dict[str, str] = {result.delivery_id: result.outcome for result in together}
            rest = [d for d in batch if d not in ran]
            outcomes = await asyncio.gather(*(deliver_one(d) for d in rest))
            ran.update(zip(rest, outcomes, strict=True))
            return [ran[d] for d in batch]

        self._deliver = self.broker.register_task(deliver, task_name=DELIVER_TASK)
        uow_factory.add_commit_listener(self.nudge)

    @property
    def in_process(self) -> bool:
        return isinstance(self.broker, InMemoryBroker)

    def nudge(self) -> None:
        """After a commit that wrote outbox messages: relay now, not at the next tick."""
        self._wake.set()

    async def kick(self, delivery_ids: Sequence[str]) -> None:
        # One broker message per batch, not per delivery: a checkout fans out into a dozen
        # deliveries, and each message costs a serialisation, a stream write, a read and an
        # acknowledgement in the worker (more CPU than a small handler's own work).
        for start in range(0, len(delivery_ids), KICK_BATCH):
            await self._deliver.kiq(list(delivery_ids[start : start + KICK_BATCH]))

    async def startup(self) -> None:
        if not self._started:
            await self.broker.startup()
            self._started = True

    async def start(self, *, loops: bool = True, consume: bool = False) -> None:
        """Start the relay/sweeper/scheduler loops and, for an external broker, consuming."""
        if consume and not self.in_process and not self.broker.is_worker_process:
            # taskiq brokers open their consuming connection only in worker mode.
            if self._started:
                await self.broker.shutdown()
                self._started = False
            self.broker.is_worker_process = True
        await self.startup()
        if loops:
            self._spawn(self._loop("relay", self._relay_step, self.relay_interval, wake=True))
            self._spawn(self._loop("sweeper", self._sweep_step, self.sweep_interval))
            self._spawn(self._loop("scheduler", self._schedule_step, self.schedule_interval))
            if self.burst.policy.enabled:
                interval = self.burst.policy.sample_every
                self._spawn(self._loop("burst gauge", self._burst_step, interval))
        if consume and not self.in_process:
            self._spawn(self._consume())

    def _spawn(self, coro: Awaitable[None]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    async def _relay_step(self) -> bool:
        # Again at once only while a backlog is left (a full batch); otherwise at the next
        # nudge or tick. During a sale, going again the moment a pass ended made passes of a
        # few checkouts' messages each, every one with its two transactions and its broker
        # messages: the worker's CPU per order halved (9 → 4 ms) once they were batched.
        return await self._relay_pass() >= RELAY_BATCH

    async def _relay_pass(self) -> int:
        hold = self.held_handlers()
        return await relay_once(
            self.uow_factory.db, self.registry, self.kick, batch_size=RELAY_BATCH, hold=hold
        )

    async def _sweep_step(self) -> bool:
        await sweep_deliveries(
            self.uow_factory.db, self.kick, hold=self.held_handlers(), held_since=self.held_since()
        )
        return False

    def held_since(self) -> datetime:
        """Held work older than this runs even during a burst."""
        return utcnow() - timedelta(seconds=self.burst.policy.max_deferral)

    def held_handlers(self) -> frozenset[str]:
        """The handlers whose deliveries wait right now: the deferrable ones during a burst."""
        if self._draining or not self.burst.active(asyncio.get_running_loop().time()):
            return frozenset()
        return self.registry.deferrable

    async def _burst_step(self) -> bool:
        now = asyncio.get_running_loop().time()
        if self.burst.due(now):
            was_active = self.burst.active(now)
            self.burst.observe(now, await high_water_mark(self.uow_factory.db))
            active = self.burst.active(now)
            JOB_BURST_ACTIVE.set(1 if active else 0)
            if active != was_active:
                logger.info(
                    "burst %s: deferrable work %s",
                    "started" if active else "over",
                    "held" if active else "released",
                    extra={"outbox_messages_per_second": round(self.burst.rate, 1)},
                )
        return False

    async def _schedule_step(self) -> bool:
        await schedule_due_jobs(self.uow_factory, self.registry)
        return False

    async def _loop(
        self,
        name: str,
        step: Callable[[], Awaitable[bool]],
        interval: float,
        *,
        wake: bool = False,
    ) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                busy = await step()
                failures = 0
            except Exception:
                failures += 1
                busy = False
                logger.exception("%s loop step failed", name)
            if busy:
                continue
            delay = interval if failures == 0 else min(30.0, interval * 2**failures)
            if wake:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def _consume(self) -> None:
        # The broker's listener can end on its own: a dropped connection, or a process
        # paused for longer than the broker client's timeouts (seen with Redis Streams after
        # a 40 s pause: the receiver stopped and logged only that it had). The relay and the
        # sweeper would go on filling the queue while nothing consumed it, so the consumer
        # is restarted, after a pause that grows while it keeps failing.
        failures = 0
        while not self._stopping.is_set():
            receiver = Receiver(
                self.broker,
                max_async_tasks=self.concurrency,
                run_startup=False,
                wait_tasks_timeout=STOP_GRACE_SECONDS,
            )
            started = asyncio.get_running_loop().time()
            try:
                await receiver.listen(self._stopping)
            except Exception:
                logger.exception("broker consumer failed; restarting it")
            else:
                if self._stopping.is_set():
                    return
                logger.error("broker consumer stopped on its own; restarting it")
            self.consumer_restarts += 1
            # A consumer that ran a while before ending starts over at the shortest pause.
            ran = asyncio.get_running_loop().time() - started
            failures = 1 if ran > CONSUMER_RETRY_CAP_SECONDS else failures + 1
            delay = min(CONSUMER_RETRY_CAP_SECONDS, CONSUMER_RETRY_SECONDS * 2 ** (failures - 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def drain(self) -> None:
        """Relay and run everything pending right now (tests and CLI one-shots), held or not:
        also the deliveries a burst held earlier, which no relay pass would kick again."""
        self._draining = True
        try:
            # Until a round finds nothing: deliveries run in place may have written more.
            # Bounded: a delivery that keeps failing is due again only after its backoff,
            # but a clock that jumps should not make this loop for ever.
            for _ in range(DRAIN_ROUNDS):
                relayed = 0
                while passed := await self._relay_pass():
                    relayed += passed
                kicked = await sweep_deliveries(self.uow_factory.db, self.kick)
                if isinstance(self.broker, InMemoryBroker):
                    await self.broker.wait_all()
                if not relayed and not kicked:
                    break
        finally:
            self._draining = False

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        # The loops end at their next step; the consumer stops fetching and lets the
        # deliveries it started finish and be acknowledged. Whatever is still running after
        # the grace period is cancelled: its delivery stays pending and is kicked again.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded too: a broker library may shield its own clean-up from cancellation,
            # and a worker asked to stop must stop.
            done, stuck = await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved: it was logged where it happened
            if stuck:
                logger.error("%d job runtime task(s) did not stop; left behind", len(stuck))
        self._tasks = []
        if isinstance(self.broker, InMemoryBroker):
            await self.broker.wait_all()
        if self._started:
            await self.broker.shutdown()
            self._started = False


async def ping_broker(url: str) -> None:
    """Open and close a connection to the broker (readiness), raising when unreachable."""
    if url.startswith(("amqp://", "amqps://")):
        import aio_pika

        connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
        await connection.close()
    elif url.startswith(("redis://", "rediss://")):
        from redis.asyncio import Redis

        client = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            await client.ping()
        finally:
            await client.aclose()
    else:
        raise ValueError(f"unsupported broker URL scheme: {url.split(':', 1)[0]}")
