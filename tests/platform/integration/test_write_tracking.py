"""Which tables a unit of work wrote reaches the database's write listeners after the
commit (ORM changes and bulk statements alike, never after a rollback), and the read cache
built on it serves a body only under the generation it was read in."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, update

from marketplace.bootstrap import Container
from marketplace.platform.cache import MemoryCache
from marketplace.platform.models import ScheduledJob
from marketplace.platform.readcache import ReadCache

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


async def test_committed_writes_name_their_tables_after_the_commit(container: Container) -> None:
    heard: list[set[str]] = []

    async def listener(written: set[str]) -> None:
        heard.append(written)

    container.db.on_committed_writes(listener)
    async with container.uow_factory() as uow:
        uow.session.add(ScheduledJob(name="t.orm", next_run_at=WHEN))
        await uow.commit()
        await uow.session.execute(insert(ScheduledJob).values(name="t.core", next_run_at=WHEN))
        await uow.session.execute(
            update(ScheduledJob).where(ScheduledJob.name == "t.core").values(next_run_at=WHEN)
        )
        await uow.commit()
        await uow.session.execute(delete(ScheduledJob).where(ScheduledJob.name == "t.orm"))
        await uow.rollback()
        await uow.session.get(ScheduledJob, "t.core")
        await uow.commit()

    assert heard == [{"platform_schedule"}, {"platform_schedule"}]


async def test_a_failing_listener_does_not_fail_the_commit(container: Container) -> None:
    async def broken(written: set[str]) -> None:
        raise RuntimeError("cache down")

    container.db.on_committed_writes(broken)
    async with container.uow_factory() as uow:
        uow.session.add(ScheduledJob(name="t.kept", next_run_at=WHEN))
        await uow.commit()
    async with container.uow_factory() as uow:
        assert await uow.session.get(ScheduledJob, "t.kept") is not None


async def test_a_body_is_served_only_under_its_generation() -> None:
    shared = MemoryCache()
    cache = ReadCache(shared, MemoryCache(), ttl_seconds=60)
    listener = cache.invalidate_on_writes("catalog", {"catalog_product"})

    assert await cache.lookup("catalog", "k") is None  # no generation yet: nothing to trust
    before = await cache.lookup("catalog", "k")
    assert before is not None
    assert before.body is None
    await cache.store("catalog", before, "k", b"old")
    assert (await cache.lookup("catalog", "k")) == before.__class__(before.generation, b"old")

    await listener({"identity_user"})
    assert (await cache.lookup("catalog", "k")).body == b"old"  # type: ignore[union-attr]
    await listener({"catalog_product", "platform_outbox_message"})
    after = await cache.lookup("catalog", "k")
    assert after is not None
    assert after.body is None
    assert after.generation == before.generation + 1

    # A reader that looked before the write stores under the old generation: never served.
    await cache.store("catalog", before, "k", b"read before the write")
    assert (await cache.lookup("catalog", "k")).body is None  # type: ignore[union-attr]

    # The generation lost (evicted, flushed): it restarts above every earlier one.
    await shared.delete("gen:catalog")
    assert await cache.lookup("catalog", "k") is None
    restarted = await cache.lookup("catalog", "k")
    assert restarted is not None
    assert restarted.generation > after.generation
    assert restarted.body is None
