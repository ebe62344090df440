"""The periodic scheduler: each due run is enqueued once, however many schedulers race."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.bootstrap import Container
from marketplace.platform.clock import utcnow
from marketplace.platform.jobs import schedule_due_jobs
from marketplace.platform.messaging import Message
from marketplace.platform.models import OutboxMessage, ScheduledJob
from marketplace.platform.uow import UnitOfWork

JOB = "tests.nightly_report"


def register_job(container: Container, runs: list[dict[str, object]]) -> None:
    @container.registry.job(JOB)
    async def nightly(uow: UnitOfWork, message: Message) -> None:
        runs.append(dict(message.payload))

    container.registry.every(timedelta(hours=1), JOB, region="eu")


async def _enqueued(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.name == JOB)
    )
    return int(count or 0)


async def test_due_job_is_enqueued_once_and_not_again_before_its_interval(
    container: Container, session: AsyncSession
) -> None:
    runs: list[dict[str, object]] = []
    register_job(container, runs)

    await schedule_due_jobs(container.uow_factory, container.registry)
    await schedule_due_jobs(container.uow_factory, container.registry)
    await container.jobs.drain()

    assert await _enqueued(session) == 1
    assert runs == [{"region": "eu"}]
    next_run = await session.scalar(
        select(ScheduledJob.next_run_at).where(ScheduledJob.name == JOB)
    )
    assert next_run is not None
    assert next_run > utcnow() + timedelta(minutes=59)


async def test_missed_runs_after_downtime_are_not_replayed_as_a_backlog(
    container: Container, session: AsyncSession
) -> None:
    register_job(container, [])
    await schedule_due_jobs(container.uow_factory, container.registry)
    await session.execute(update(ScheduledJob).values(next_run_at=utcnow() - timedelta(hours=10)))
    await session.commit()

    for _ in range(3):
        await schedule_due_jobs(container.uow_factory, container.registry)

    assert await _enqueued(session) == 2


async def test_racing_schedulers_enqueue_each_run_once(live_container: Container) -> None:
    register_job(live_container, [])

    await asyncio.gather(
        *(schedule_due_jobs(live_container.uow_factory, live_container.registry) for _ in range(6))
    )

    async with live_container.db.session() as session:
        assert await _enqueued(session) == 1
