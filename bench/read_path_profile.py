"""CPU per uncached catalog read, measured inside one process (robust to a busy machine).

Against a database seeded by `catalog_browse.py --seed-only` (its URL is printed at the
end), builds the application with the read cache off and calls it as an ASGI app directly
(no HTTP server, no client), one request at a time, for the same kinds of requests the
benchmark sends: `GET /v1/products?q=<word>&category=<c>&limit=20` and
`GET /v1/products/{id}`. Prints, per request: this process's CPU time (what one uvicorn
worker would spend), the wall time (CPU plus waiting for PostgreSQL), PostgreSQL's own CPU
(its backends' /proc counters) and the SQL statements sent. Other load on the machine
stretches the wall time, hardly the CPU times. `--cprofile N` prints the N functions with
the most CPU time of their own, then with callees, of the measured requests.

    .venv/bin/python bench/read_path_profile.py postgresql://postgres@127.0.0.1:5432/mk_bench_x
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from catalog_browse import choose_requests
from common import CategoryRow, postgres_pids, proc_cpu

BENCH = Path(__file__).resolve().parent


async def _call(app: Any, path: str) -> tuple[int, bytes]:
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def _paths(dsn: str, limit: int, count: int) -> tuple[list[str], list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT id, parent_id, name, path, depth, position FROM "
                                "catalog_category")  # fmt: skip
        categories = [CategoryRow(**dict(r), is_leaf=False) for r in rows]
        total = await conn.fetchval("SELECT count(*) FROM catalog_product WHERE visible")
    finally:
        await conn.close()

    class Seeded:
        products = total
        word_share: dict[str, float] = {}  # noqa: RUF012 - a throw-away record
        browse_paths: list[str] = []  # noqa: RUF012
        product_ids: list[str] = []  # noqa: RUF012

    args = argparse.Namespace(limit=limit)
    conn = await asyncpg.connect(dsn)
    try:
        await choose_requests(conn, args, categories, Seeded, random.Random(7))  # type: ignore[arg-type]
    finally:
        await conn.close()
    products = [f"/v1/products/{pid}" for pid in Seeded.product_ids]
    return Seeded.browse_paths[:count], products[:count]


def _pg_cpu() -> float:
    return sum(proc_cpu(pid) for pid in postgres_pids())


async def _measure(app: Any, engine: Any, name: str, paths: Sequence[str], profile: int) -> None:
    from sqlalchemy import event

    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    for path in paths[:20]:  # warm the pool, the statement caches, the planner
        status, body = await _call(app, path)
        if status != 200:
            raise RuntimeError(f"{path} -> {status}: {body[:300]!r}")
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    profiler = cProfile.Profile(time.process_time) if profile else None
    cpu0, wall0, pg0 = time.process_time(), time.perf_counter(), _pg_cpu()
    if profiler:
        profiler.enable()
    sizes = 0
    for path in paths:
        status, body = await _call(app, path)
        assert status == 200, (path, status)
        sizes += len(body)
    if profiler:
        profiler.disable()
    cpu, wall, pg = time.process_time() - cpu0, time.perf_counter() - wall0, _pg_cpu() - pg0
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    n = len(paths)
    print(
        f"{name:<8} {n:>5} requests: app cpu {1000 * cpu / n:6.2f} ms, wall {1000 * wall / n:6.2f}"
        f" ms, postgres cpu {1000 * pg / n:6.2f} ms, {statements / n:.1f} statements, "
        f"{sizes / n / 1024:.1f} KiB per request"
    )
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(profile)
        stats.sort_stats("cumulative").print_stats(profile)


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("database_url", help="postgresql://... of a seeded benchmark database")
    parser.add_argument("--requests", type=int, default=500, help="of each kind")
    parser.add_argument("--limit", type=int, default=20, help="browse page size")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    parser.add_argument("--only", choices=["browse", "product"], default=None)
    args = parser.parse_args(argv)

    browse, products = await _paths(args.database_url, args.limit, args.requests)
    os.environ.update(
        MARKETPLACE_DATABASE_URL=args.database_url.replace(
            "postgresql://", "postgresql+asyncpg://", 1
        ),
        MARKETPLACE_READ_CACHE_SECONDS="0",
        MARKETPLACE_LOG_LEVEL="WARNING",
        MARKETPLACE_ENV="development",
    )
    from marketplace.app import create_app_from_env

    app = create_app_from_env()
    engine = app.state.container.db.engine
    try:
        if args.only in (None, "browse"):
            await _measure(app, engine, "browse", browse, args.cprofile)
        if args.only in (None, "product"):
            await _measure(app, engine, "product", products, args.cprofile)
    finally:
        await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency of the server
        pass
    sys.exit(asyncio.run(main()))
