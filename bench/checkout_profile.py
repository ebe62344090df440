"""Where a checkout's time goes, measured without a load test: SQL statements and process CPU
per checkout, and (with `--profile`) a pyinstrument profile of the measured checkouts.

The same database, seed and request bodies as `checkout.py`, but the application runs in this
process (`httpx.ASGITransport`, no sockets, no job worker: jobs stay in the outbox) and the
checkouts run one after another. Statements are counted by an engine listener and grouped by
the transaction they ran in; CPU is this process's CPU time (`time.process_time`), which other
load on a shared machine does not inflate the way it inflates wall-clock figures. The HTTP
client's own share (building requests, reading answers) is included and is small.

    .venv/bin/python bench/checkout_profile.py [--orders 300] [--warmup 30] [--profile]
        [--statements]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth); `--profile` needs `pip install pyinstrument`
(a sampling profiler that follows coroutines, which cProfile attributes wrongly).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checkout import BIN, ROOT, app_env, bodies, seed
from common import (
    PG_ADMIN_URL,
    create_database,
    database_dsn,
    drop_database,
    postgres_pids,
    proc_cpu,
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="measured checkouts")
    parser.add_argument("--warmup", type=int, default=30, help="checkouts before measuring")
    parser.add_argument("--clients", type=int, default=4, help="customers (tokens) to rotate")
    parser.add_argument("--vendors", type=int, default=20)
    parser.add_argument("--products", type=int, default=10, help="per vendor")
    parser.add_argument("--profile", action="store_true", help="profile with pyinstrument")
    parser.add_argument(
        "--by-package",
        action="store_true",
        help="CPU (cProfile self time) per package: sqlalchemy, asyncpg, fastapi, marketplace...",
    )
    parser.add_argument(
        "--statements", action="store_true", help="print the statements of one checkout"
    )
    parser.add_argument(
        "--profile-floor",
        action="store_true",
        help="print where GET /v1/me's CPU goes (cProfile self time, top functions)",
    )
    parser.add_argument(
        "--profile-jobs",
        action="store_true",
        help="print where the jobs' CPU goes (cProfile, cumulative, per checkout)",
    )
    parser.add_argument(
        "--profile-handler",
        metavar="NAME",
        help="with --profile-jobs: cProfile the deliveries of this handler (cumulative, top 45)",
    )
    parser.add_argument(
        "--calls-by-handler",
        action="store_true",
        help="with --profile-jobs: also Python calls per handler (cProfile: CPU inflated)",
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    return parser.parse_args(argv)


async def measure(args: argparse.Namespace, seeded: dict[str, Any]) -> None:
    import httpx
    from sqlalchemy import event

    from marketplace.app import create_app
    from marketplace.platform import worker
    from marketplace.settings import Settings

    app = create_app(Settings(), run_jobs=False)
    container = app.state.container
    sync_engine = container.db.engine.sync_engine
    statements: list[str] = []
    transactions = [0]
    checkouts = [0]

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    @event.listens_for(sync_engine, "commit")
    def _commit(_conn: Any) -> None:
        transactions[0] += 1

    @event.listens_for(sync_engine, "checkout")
    def _checkout(*_: Any) -> None:
        checkouts[0] += 1

    payloads = bodies(seeded["shops"], args.warmup + args.orders + 41, random.Random(11))
    tokens = seeded["tokens"][: args.clients]
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):

        async def one(index: int) -> None:
            answer = await client.post(
                "/v1/orders",
                content=payloads[index],
                headers={
                    "Authorization": f"Bearer {tokens[index % len(tokens)]}",
                    "Idempotency-Key": uuid.uuid4().hex,
                    "Content-Type": "application/json",
                },
            )
            if answer.status_code != 201 or '"status":"paid"' not in answer.text:
                raise RuntimeError(f"checkout {index}: {answer.status_code} {answer.text[:300]}")

        for index in range(args.warmup):
            await one(index)
        await container.jobs.startup()
        for _ in range(10):
            await container.jobs.drain()  # the warm-up's jobs are not counted below
        if args.statements:
            statements.clear()
            await one(args.warmup)
            print(f"statements of one checkout ({len(statements)}):")
            for number, text in enumerate(statements, 1):
                print(f"  {number:3d} {' '.join(text.split())[:150]}")
        # The floor of the stack: an authenticated GET that reads one row (the user), through
        # the same middleware, dependencies and client.
        statements.clear()
        cpu0 = time.process_time()
        for index in range(args.orders):
            answer = await client.get(
                "/v1/me", headers={"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
            )
            assert answer.status_code == 200, answer.text
        floor = 1000 * (time.process_time() - cpu0) / args.orders
        floor_statements = len(statements) / args.orders
        counter = cProfile.Profile()
        counter.enable()
        for index in range(20):
            await client.get(
                "/v1/me", headers={"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
            )
        counter.disable()
        floor_calls = pstats.Stats(counter).total_calls / 20  # type: ignore[attr-defined]
        if args.profile_floor:
            print("GET /v1/me, cProfile self time of 20 requests:")
            pstats.Stats(counter).sort_stats("tottime").print_stats(35)
            pstats.Stats(counter).print_callers(
                "run_sync_in_worker_thread|run_in_threadpool|to_thread"
            )
        print(
            f"reference: GET /v1/me {floor:.2f} ms CPU, {floor_calls:,.0f} Python calls, "
            f"{floor_statements:.1f} statements per request"
        )
        # Python function calls per checkout: deterministic, so unlike CPU time it compares
        # two versions of the code on a busy machine.
        counter = cProfile.Profile()
        counter.enable()
        for index in range(args.warmup + 1 + args.orders, args.warmup + 1 + args.orders + 20):
            await one(index)
        counter.disable()
        calls = pstats.Stats(counter).total_calls / 20  # type: ignore[attr-defined]
        statements.clear()
        transactions[0] = 0
        checkouts[0] = 0
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            # Not following awaits: time spent waiting for PostgreSQL shows up as the event
            # loop's select(), and everything else is this process's own work.
            profiler = Profiler(interval=0.0005, async_mode="disabled")
        # CPU time, not wall time: waiting for PostgreSQL (epoll) is not our work.
        by_package = cProfile.Profile(time.process_time) if args.by_package else None
        # PostgreSQL's own CPU for the same checkouts (every backend, and through the
        # postmaster those that exited): what the statements cost on the server's side.
        pids = postgres_pids()
        pg0 = sum(proc_cpu(pid) for pid in pids)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.start()
        if by_package is not None:
            by_package.enable()
        for index in range(args.warmup + 1, args.warmup + 1 + args.orders):
            await one(index)
        if profiler is not None:
            profiler.stop()
        if by_package is not None:
            by_package.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        pg_cpu = sum(proc_cpu(pid) for pid in pids) - pg0
        checkout_statements = list(statements)
        checkout_commits, checkout_checkouts = transactions[0], checkouts[0]
        # What the job worker does for them afterwards (relay, deliveries, the provider's
        # webhook, the handlers), drained here in process.
        statements.clear()
        handler_profile = cProfile.Profile() if args.profile_handler else None
        run_delivery = worker.run_delivery
        by_handler = (
            _time_handlers(
                container,
                statements,
                args.profile_handler,
                handler_profile,
                count_calls=args.calls_by_handler,
            )
            if args.profile_jobs
            else None
        )
        jobs_cpu0 = time.process_time()
        for _ in range(10):
            await container.jobs.drain()
        jobs_cpu = time.process_time() - jobs_cpu0
        # The jobs' calls are counted below by one profiler: no profiler per delivery.
        worker.run_delivery = run_delivery  # type: ignore[assignment]
        if by_handler is not None:
            print("jobs, one delivery at a time: CPU per checkout by handler (run_delivery whole)")
            totals = by_handler.items()
            for handler, (count, seconds, ran, made) in sorted(totals, key=lambda i: -i[1][1]):
                each = max(count, 1)
                print(
                    f"  {1000 * seconds / args.orders:7.2f} ms  {count / args.orders:5.2f} "
                    f"deliveries  {1000 * seconds / each:6.2f} ms each  "
                    f"{ran / each:5.1f} statements"
                    + (f" {made / each:7,.0f} calls" if args.calls_by_handler else "")
                    + f" each  {handler}"
                )
        if handler_profile is not None:
            print(f"deliveries of {args.profile_handler}, cProfile (cumulative):")
            pstats.Stats(handler_profile).sort_stats("cumulative").print_stats(
                "marketplace|email|aiosmtp|fpdf|fontTools|orjson|jinja", 45
            )
        jobs_statements = Counter(_table_of(text) for text in statements)
        jobs_total = len(statements)
        # The jobs' Python calls, counted on 20 more checkouts.
        first = args.warmup + 1 + args.orders + 20
        for index in range(first, first + 20):
            await one(index)
        jobs_counter = cProfile.Profile()
        jobs_counter.enable()
        for _ in range(10):
            await container.jobs.drain()
        jobs_counter.disable()
        jobs_calls = pstats.Stats(jobs_counter).total_calls / 20  # type: ignore[attr-defined]
        statements[:] = checkout_statements
        transactions[0], checkouts[0] = checkout_commits, checkout_checkouts
    n = args.orders
    kinds = Counter(text.split(None, 1)[0].upper() for text in statements)
    print(
        f"{n} sequential checkouts: {len(statements) / n:.1f} statements "
        f"({', '.join(f'{k} {v / n:.1f}' for k, v in kinds.most_common())}), "
        f"{transactions[0] / n:.1f} commits and {checkouts[0] / n:.1f} connection checkouts "
        "from the pool per checkout"
    )
    print(
        f"process CPU {1000 * cpu / n:.2f} ms per checkout, wall {1000 * wall / n:.2f} ms "
        f"(CPU-bound ceiling of one worker ~{n / cpu:.0f} orders/s)"
        + (" [profiler on: CPU inflated]" if profiler else "")
    )
    print(f"PostgreSQL CPU {1000 * pg_cpu / n:.2f} ms per checkout (all its processes)")
    print(f"Python function calls per checkout: {calls:,.0f}")
    # Every paid checkout's provider sends one webhook: the number of checkouts whose jobs
    # ran here (some of the warm-up's may still have been pending).
    served = jobs_statements[("INSERT", "payments_webhook_event")] or n
    print(
        f"jobs afterwards for {served} checkouts (relay, deliveries, the provider's webhook, "
        f"handlers): {jobs_calls:,.0f} Python calls, {jobs_total / served:.1f} "
        f"statements and {1000 * jobs_cpu / served:.2f} ms CPU per checkout; "
        "by statement and table:"
    )
    for (kind, table), count in jobs_statements.most_common(20):
        print(f"  {count / served:5.2f} {kind} {table}")
    if by_package is not None:
        print_packages(by_package, n)
    if profiler is not None:
        print(profiler.output_text(unicode=False, color=False, show_all=False))
        print(profiler.output_text(unicode=False, color=False, flat=True))


def _time_handlers(
    container: Any,
    statements: list[str],
    profiled: str | None = None,
    profile: cProfile.Profile | None = None,
    *,
    count_calls: bool = False,
) -> dict[str, list[float]]:
    """Run deliveries one at a time and add up each one's process CPU and statements (and
    with `count_calls` its Python calls: deterministic, unlike CPU) by handler name; with
    `profile`, the deliveries of the handler named `profiled` run under it."""
    import sqlalchemy as sa

    from marketplace.platform import worker
    from marketplace.platform.models import Delivery

    totals: dict[str, list[float]] = {}
    original = worker.run_delivery
    container.jobs.broker.await_inplace = True
    container.jobs.sequential = True

    async def timed(uow_factory: Any, registry: Any, delivery_id: str, **kw: Any) -> Any:
        async with uow_factory.db.session() as session:
            handler = await session.scalar(
                sa.select(Delivery.handler).where(Delivery.id == delivery_id)
            )
        statements.pop()  # this lookup is the profiler's, not the job's
        ran0 = len(statements)
        counter = cProfile.Profile() if count_calls else None
        cpu0 = time.process_time()
        if profile is not None and handler == profiled:
            profile.enable()
        elif counter is not None:
            counter.enable()
        result = await original(uow_factory, registry, delivery_id, **kw)
        if profile is not None:
            profile.disable()
        if counter is not None:
            counter.disable()
        entry = totals.setdefault(str(handler), [0, 0.0, 0, 0])
        entry[0] += 1
        entry[1] += time.process_time() - cpu0
        entry[2] += len(statements) - ran0
        if counter is not None:
            entry[3] += pstats.Stats(counter).total_calls  # type: ignore[attr-defined]
        return result

    worker.run_delivery = timed  # type: ignore[assignment]
    return totals


def _table_of(statement: str) -> tuple[str, str]:
    words = statement.replace('"', "").split()
    kind = words[0].upper()
    if kind == "SELECT" and "FROM" in words:
        return kind, words[words.index("FROM") + 1]
    if kind in ("INSERT", "DELETE") and len(words) > 2:
        return kind, words[2].split("(")[0]
    if kind == "UPDATE" and len(words) > 1:
        return kind, words[1]
    return kind, ""


def print_packages(profile: cProfile.Profile, n: int) -> None:
    """Self time per package (cProfile's self times are exact for coroutines too)."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    totals: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for (filename, _line, function), (_cc, ncalls, tottime, _ct, _callers) in stats.items():
        if "site-packages/" in filename:
            package = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif "/marketplace/" in filename:
            package = "marketplace." + filename.split("/marketplace/", 1)[1].split("/", 1)[0]
        elif filename == "~":
            package = "builtin:" + function.split(" ")[-1].strip("<>'")[:40]
        else:
            package = "stdlib:" + Path(filename).stem
        totals[package] += tottime
        calls[package] += ncalls
    whole = sum(totals.values())
    for (_file, _line, function), (_cc, ncalls, _tt, cumtime, _callers) in stats.items():
        if function in {
            "serialize_response",
            "solve_dependencies",
            "request_body_to_args",
            "_idempotent",
            "greenlet_spawn",
        }:
            print(f"  cumulative {function}: {1000 * cumtime / n:.2f} ms, {ncalls / n:.1f} calls")
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:25]
    print("top functions by self time:")
    for (filename, line, function), (_cc, ncalls, tottime, _ct, _callers) in top:
        where = filename.split("site-packages/", 1)[-1].split("/src/", 1)[-1]
        print(f"  {1000 * tottime / n:6.2f} ms {ncalls / n:7,.0f} calls  {where}:{line} {function}")
    print(f"self time per package (cProfile, {1000 * whole / n:.2f} ms per checkout with it on):")
    for package, seconds in totals.most_common(25):
        print(
            f"  {package:40s} {1000 * seconds / n:6.2f} ms  {100 * seconds / whole:5.1f} %"
            f"  {calls[package] / n:8,.0f} calls"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    name = f"mk_bench_chp_{secrets.token_hex(4)}"
    asyncio.run(create_database(args.pg_admin_url, name))
    dsn = database_dsn(args.pg_admin_url, name)
    data_dir = tempfile.mkdtemp(prefix="mk_bench_chp_")
    env = app_env(dsn, data_dir)
    # Jobs are not run here: an in-memory broker keeps the app from connecting to one.
    env.pop("MARKETPLACE_BROKER_URL", None)
    env.pop("MARKETPLACE_BROKER_QUEUE", None)
    try:
        subprocess.run([str(BIN / "marketplace"), "migrate"], env=env, check=True)
        seed_args = argparse.Namespace(
            vendors=args.vendors, products=args.products, clients=args.clients
        )
        seeded = asyncio.run(seed(env, seed_args))
        asyncio.run(measure(args, seeded))
    finally:
        asyncio.run(drop_database(args.pg_admin_url, name))
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
