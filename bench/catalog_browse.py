"""Catalog read throughput: browse/search and product pages against a ceiling, on PostgreSQL.

What it measures, on one uvicorn worker serving the real application
(`marketplace.app:create_app_from_env`) over a freshly seeded catalog:

* browse:  `GET /v1/products?q=<word>&category=<id>&limit=20` (full-text search in a
  category subtree, relevance order; each word matches ~0.5-2 % of products)
* product: `GET /v1/products/{id}` for random product ids
* browse-cold, product-cold: the same requests to a second application server whose read
  cache is off (`MARKETPLACE_READ_CACHE_SECONDS=0`): every answer computed from the database,
  printed for information (the targets judge the application as deployed, cache on)
* browse-expiring: the browse requests to a third server whose cached bodies live 15 s
  (`MARKETPLACE_READ_CACHE_SECONDS=15`), so the bodies stored during the warm-up all pass
  their TTL while it is measured (at 20 s warm-up included, with the defaults): what an
  expiry wave costs readers (stale-while-revalidate), for information
* ceiling: `GET /ceiling` on `bench/ceiling_app.py`, also one uvicorn worker: the same
  FastAPI + SQLAlchemy async + asyncpg stack running one indexed 20-row SELECT and nothing
  else. (`/ceiling/raw`, the same query on a bare asyncpg pool, is printed for information.)

For each: requests/s, p50/p90/p99/max latency of N closed-loop clients (default 32) after a
warm-up, the status codes and whether every body was non-empty, and the CPU used meanwhile
by the server, PostgreSQL, the load generator and the whole machine. Then the targets:
browse >= 50 % of the ceiling's requests/s, and p99 < 50 ms at 32 clients, PASS/FAIL.

Steps: create database `mk_bench_<random>` on the local PostgreSQL, run the migrations, seed
(200 approved vendors, ~50 categories in 3 levels, `--products` products with 1-2 variants,
stock rows when `inventory_stock` exists, one image each) with COPY, fill `search_vector`
in one UPDATE, VACUUM ANALYZE; start the servers; run the load generator
(`bench/loadgen.py`) in its own process per scenario; print; drop the database (also on
failure or Ctrl-C) unless `--keep-db`.

    .venv/bin/python bench/catalog_browse.py [--products 100000] [--duration 20]
        [--warmup 5] [--clients 32] [--rounds 1] [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import asyncpg
import httpx
from common import (
    ADJECTIVES,
    MATERIALS,
    NOUNS,
    PG_ADMIN_URL,
    CategoryRow,
    Copier,
    Vendor,
    build_categories,
    build_vendors,
    cancel_on_sigterm,
    create_database,
    database_dsn,
    drop_database,
    machine_busy,
    postgres_pids,
    proc_cpu,
    product_text,
    slugify,
    table_columns,
    table_exists,
    ulid_at,
    vendor_rows,
)

from marketplace.catalog.domain.product import search_document
from marketplace.migrations import upgrade

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CHUNK = 10_000

SCENARIOS = [
    "ceiling",
    "ceiling-raw",
    "browse",
    "product",
    "browse-cold",
    "product-cold",
    "browse-expiring",
]
EXPIRING_TTL_SECONDS = 15
TARGET_RATIO = 0.50
NOISY_REST_PERCENT = 25.0
TARGET_P99_MS = 50.0

_children: list[subprocess.Popen[bytes]] = []


# ----------------------------------------------------------------------------------------
# Seeding


@dataclass
class SeedResult:
    products: int = 0
    categories: int = 0
    variants: int = 0
    stock_rows: int = 0
    images: int = 0
    product_ids: list[str] = field(default_factory=list)
    browse_paths: list[str] = field(default_factory=list)
    word_share: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sizes: dict[str, str] = field(default_factory=dict)


def product_batch(
    start: int,
    stop: int,
    *,
    rng: random.Random,
    vendors: Sequence[Vendor],
    vendor_weights: Sequence[float],
    leaves: Sequence[CategoryRow],
    created: Sequence[datetime],
    images: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    products, variants, stock, image_rows = [], [], [], []
    chosen_vendors = rng.choices(vendors, weights=vendor_weights, k=stop - start)
    for n, vendor in zip(range(start, stop), chosen_vendors, strict=True):
        when = created[n]
        pid = ulid_at("prd", when, rng)
        category = rng.choice(leaves)
        title, description = product_text(rng)
        base = int(math.exp(rng.uniform(math.log(300), math.log(30_000))))
        two = rng.random() < 0.4
        specs = [({"size": "S"}, base), ({"size": "L"}, base + base // 5)] if two else [({}, base)]
        skus = [f"SKU-{n:07d}-{k}" for k in range(len(specs))]
        any_stock = False
        for k, ((attributes, price), sku) in enumerate(zip(specs, skus, strict=True)):
            vid = ulid_at("var", when, rng)
            on_hand = 0 if rng.random() < 0.08 else rng.randint(1, 200)
            any_stock = any_stock or on_hand > 0
            variants.append(
                {
                    "id": vid,
                    "product_id": pid,
                    "vendor_id": vendor.id,
                    "sku": sku,
                    "attributes": attributes,
                    "price_amount": price,
                    "price_currency": vendor.currency,
                    "regional_prices": {},
                    "in_stock": on_hand > 0,
                    "position": k,
                    "created_at": when,
                    "deleted_at": None,
                }
            )
            stock.append(
                {
                    "variant_id": vid,
                    "vendor_id": vendor.id,
                    "sku": sku,
                    "product_id": pid,
                    "on_hand": on_hand,
                    "reserved": 0,
                    "low_stock_threshold": 5,
                    "low_stock_alerted": 0 < on_hand <= 5,
                    "updated_at": when,
                }
            )
        ratings = rng.choice([0, 0, 0, rng.randint(1, 300)])
        prices = [p for _, p in specs]
        products.append(
            {
                "id": pid,
                "vendor_id": vendor.id,
                "category_id": category.id,
                "category_path": category.path,
                "status": "active",
                "language": "en",
                "title": title,
                "description": description,
                "translations": {},
                "currency": vendor.currency,
                "min_price_amount": min(prices),
                "max_price_amount": max(prices),
                "in_stock": any_stock,
                "visible": True,
                "rating_count": ratings,
                "rating_score": rng.randint(300, 500) if ratings else 0,
                "search_document": search_document(title, description, {}, skus),
                "created_at": when,
                "updated_at": when,
                "deleted_at": None,
            }
        )
        for position in range(images):
            key = f"products/{pid}/{position}"
            image_rows.append(
                {
                    "id": ulid_at("img", when, rng),
                    "product_id": pid,
                    "vendor_id": vendor.id,
                    "key": f"{key}.webp",
                    "url": f"https://cdn.example.com/{key}.webp",
                    "content_type": "image/webp",
                    "width": 1200,
                    "height": 1200,
                    "bytes": 180_000,
                    "alt_text": title,
                    "position": position,
                    "thumbnails": {"200": f"{key}-200.webp", "800": f"{key}-800.webp"},
                    "thumbnail_urls": {
                        "200": f"https://cdn.example.com/{key}-200.webp",
                        "800": f"https://cdn.example.com/{key}-800.webp",
                    },
                    "status": "ready",
                    "created_at": when,
                    "updated_at": when,
                }
            )
    return products, variants, stock, image_rows


async def seed(dsn: str, args: argparse.Namespace) -> SeedResult:
    result = SeedResult()
    rng = random.Random(args.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        vendors = build_vendors(args.vendors, rng, now)
        categories = build_categories(rng, now)
        leaves = [c for c in categories if c.is_leaf]
        result.categories = len(categories)
        # A long tail: a few vendors list many products, most list a few hundred.
        vendor_weights = [1.0 / (i + 1) ** 0.6 for i in range(len(vendors))]
        span = 365 * 24 * 3600
        created = sorted(
            now - timedelta(seconds=rng.randint(0, span)) for _ in range(args.products)
        )

        async def copier(table: str) -> Copier | None:
            if not await table_exists(conn, table):
                result.notes.append(f"{table}: table does not exist; not seeded")
                return None
            return Copier(conn, table, await table_columns(conn, table))

        vendor_copy = await copier("vendors_vendor")
        listing_copy = await copier("catalog_vendor_listing")
        category_copy = await copier("catalog_category")
        product_copy = await copier("catalog_product")
        variant_copy = await copier("catalog_variant")
        stock_copy = await copier("inventory_stock")
        image_copy = await copier("catalog_product_image") if args.images else None
        if product_copy is None or variant_copy is None or category_copy is None:
            raise RuntimeError("the catalog tables are missing: did the migrations change?")

        async with conn.transaction():
            if vendor_copy:
                await vendor_copy.copy(list(vendor_rows(vendors)), result.notes)
            if listing_copy:
                await listing_copy.copy(
                    [
                        {
                            "vendor_id": v.id,
                            "name": v.name,
                            "slug": v.slug,
                            "listable": True,
                            "updated_at": v.created_at,
                        }
                        for v in vendors
                    ],
                    result.notes,
                )
            await category_copy.copy(
                [
                    {
                        "id": c.id,
                        "parent_id": c.parent_id,
                        "slug": slugify(c.name),
                        "name": c.name,
                        "translations": {},
                        "path": c.path,
                        "depth": c.depth,
                        "position": c.position,
                        "created_at": now - timedelta(days=400),
                    }
                    for c in categories
                ],
                result.notes,
            )
            for start in range(0, args.products, CHUNK):
                products, variants, stock, images = product_batch(
                    start,
                    min(start + CHUNK, args.products),
                    rng=rng,
                    vendors=vendors,
                    vendor_weights=vendor_weights,
                    leaves=leaves,
                    created=created,
                    images=args.images,
                )
                result.products += await product_copy.copy(products, result.notes)
                result.variants += await variant_copy.copy(variants, result.notes)
                if stock_copy:
                    result.stock_rows += await stock_copy.copy(stock, result.notes)
                if image_copy:
                    result.images += await image_copy.copy(images, result.notes)
        result.timings["copy"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        columns = await table_columns(conn, "catalog_product")
        if "search_vector" not in columns:
            result.notes.append("catalog_product.search_vector is missing: search unindexed")
        elif columns["search_vector"].has_default:
            result.notes.append("search_vector is generated by the database; no UPDATE")
        else:
            await conn.execute(
                "UPDATE catalog_product SET search_vector = to_tsvector('simple', search_document)"
            )
        result.timings["search_vector UPDATE"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        result.timings["VACUUM ANALYZE"] = time.perf_counter() - t0

        await choose_requests(conn, args, categories, result, rng)
        for name in ("catalog_product", "catalog_variant", "inventory_stock"):
            if await table_exists(conn, name):
                result.sizes[name] = await conn.fetchval(
                    "SELECT pg_size_pretty(pg_table_size($1)) || ' + indexes ' || "
                    "pg_size_pretty(pg_indexes_size($1))",
                    name,
                )
    finally:
        await conn.close()
    return result


async def choose_requests(
    conn: asyncpg.Connection,
    args: argparse.Namespace,
    categories: Sequence[CategoryRow],
    result: SeedResult,
    rng: random.Random,
) -> None:
    """Search words matching 0.5-2 % of products (measured, with the app's prefix match),
    paired with top- and second-level categories holding at least a full page of them."""
    total = result.products
    candidates = sorted(set(NOUNS + ADJECTIVES + MATERIALS))
    browsable = [c for c in categories if c.depth <= 1]
    pairs: list[tuple[str, str]] = []
    for word in candidates:
        rows = await conn.fetch(
            "SELECT category_path, count(*) AS n FROM catalog_product "
            "WHERE visible AND search_vector @@ to_tsquery('simple', $1) GROUP BY 1",
            f"{word}:*",
        )
        matches = sum(r["n"] for r in rows)
        share = matches / total if total else 0.0
        if not 0.005 <= share <= 0.02:
            continue
        result.word_share[word] = share
        for category in browsable:
            inside = sum(r["n"] for r in rows if r["category_path"].startswith(category.path))
            if inside > args.limit:
                pairs.append((word, category.id))
    if not pairs:
        raise RuntimeError("no search word matches 0.5-2 % of products with a full page")
    rng.shuffle(pairs)
    result.browse_paths = [
        "/v1/products?" + urlencode({"q": w, "category": c, "limit": args.limit})
        for w, c in pairs[:2000]
    ]
    result.product_ids = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM catalog_product WHERE visible ORDER BY random() LIMIT 2000"
        )
    ]


# ----------------------------------------------------------------------------------------
# Servers and measurement


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log: TextIO

    def log_tail(self, chars: int = 2000) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]


async def start_server(
    name: str, target: list[str], env: dict[str, str], logs: Path, health: str = "/healthz"
) -> Server:
    port = free_port()
    log_path = logs / f"{name}.log"
    log = log_path.open("w")
    command = [
        sys.executable, "-m", "uvicorn", *target, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    _children.append(process)
    server = Server(name, port, process, log_path, log)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} server exited:\n{server.log_tail()}")
            try:
                if (await client.get(health)).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{name} server not healthy after 60 s:\n{server.log_tail()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.log.close()


@dataclass
class CpuSnapshot:
    server: float
    postgres: dict[int, float]
    loadgen: float
    machine: tuple[float, float]
    at: float

    @classmethod
    def take(cls, server_pid: int, loadgen_pid: int) -> CpuSnapshot:
        return cls(
            server=proc_cpu(server_pid),
            postgres={pid: proc_cpu(pid) for pid in postgres_pids()},
            loadgen=proc_cpu(loadgen_pid),
            machine=machine_busy(),
            at=time.perf_counter(),
        )


def cpu_shares(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Percent of one core used by each party between the snapshots."""
    wall = after.at - before.at
    postgres = sum(after.postgres[pid] - before.postgres.get(pid, 0.0) for pid in after.postgres)
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    shares = {
        "server": 100 * (after.server - before.server) / wall,
        "postgres": 100 * postgres / wall,
        "loadgen": 100 * (after.loadgen - before.loadgen) / wall,
    }
    # Everything else that ran meanwhile (other tenants of the machine, the idle second
    # server, the kernel), in percent of one core: the noise indicator.
    machine_cores = (os.cpu_count() or 1) * busy / total if total else float("nan")
    shares["rest"] = 100 * machine_cores - sum(shares.values())
    return shares


@dataclass
class Scenario:
    name: str
    server: Server
    paths: list[str]
    must_contain: str
    must_not_contain: str | None = None


@dataclass
class Measurement:
    scenario: str
    round: int
    result: dict[str, Any]
    cpu: dict[str, float]


async def smoke(scenario: Scenario) -> str:
    """One request per scenario before measuring: a clear error instead of 20 s of 404s."""
    url = f"http://127.0.0.1:{scenario.server.port}{scenario.paths[0]}"
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(url)
    body = response.text
    if response.status_code != 200 or scenario.must_contain not in body:
        raise RuntimeError(
            f"{scenario.name}: GET {scenario.paths[0]} -> {response.status_code}\n{body[:800]}\n"
            f"server log:\n{scenario.server.log_tail()}"
        )
    if scenario.must_not_contain and scenario.must_not_contain in body:
        raise RuntimeError(f"{scenario.name}: empty answer for {scenario.paths[0]}: {body[:300]}")
    return body


async def measure(scenario: Scenario, args: argparse.Namespace, round_: int) -> Measurement:
    spec = {
        "port": scenario.server.port,
        "paths": scenario.paths,
        "clients": args.clients,
        "warmup": args.warmup,
        "duration": args.duration,
        "must_contain": scenario.must_contain,
        "must_not_contain": scenario.must_not_contain,
        "seed": args.seed + round_,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH / "loadgen.py"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdin is not None
    try:
        process.stdin.write(json.dumps(spec).encode())
        process.stdin.close()
        await asyncio.sleep(args.warmup)
        before = CpuSnapshot.take(scenario.server.process.pid, process.pid)
        await asyncio.sleep(args.duration)
        after = CpuSnapshot.take(scenario.server.process.pid, process.pid)
        stdout, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:  # interrupted: do not leave it running
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed ({process.returncode})")
    return Measurement(scenario.name, round_, json.loads(stdout), cpu_shares(before, after))


# ----------------------------------------------------------------------------------------
# Report


def _fmt_row(m: Measurement) -> str:
    r = m.result
    ok = r["statuses"].get("200", 0)
    good = ok - r["empty"]
    return (
        f"{m.scenario:<16}{m.round:>3}{r['rps']:>9.0f}{r['p50_ms']:>8.1f}{r['p90_ms']:>8.1f}"
        f"{r['p99_ms']:>8.1f}{r['max_ms']:>8.1f}   {ok:>6}/{r['requests'] + r['errors']:<6}"
        f"{good:>8}   {m.cpu['server']:>4.0f}%{m.cpu['postgres']:>5.0f}%"
        f"{m.cpu['loadgen']:>5.0f}%{m.cpu['rest']:>5.0f}%"
    )


def _header() -> str:
    return (
        f"{'scenario':<16}{'rnd':>3}{'req/s':>9}{'p50 ms':>8}{'p90':>8}{'p99':>8}{'max':>8}"
        f"   {'200s/sent':<13}{'nonempty':>8}   {'srv':>5}{'pg':>6}{'gen':>6}{'rest':>6} cpu"
    )


def report(measurements: list[Measurement], args: argparse.Namespace) -> bool:
    problems = [m for m in measurements if m.result["errors"] or m.result["empty"]]
    problems += [m for m in measurements if set(m.result["statuses"]) - {"200"}]
    for m in problems:
        print(f"  ! {m.scenario} round {m.round}: errors={m.result['errors']} "
              f"empty={m.result['empty']} statuses={m.result['statuses']}")  # fmt: skip
        for sample in m.result["samples"]:
            print(f"      {sample}")
    all_ok = not problems
    print(f"\nall responses 200 and non-empty: {'yes' if all_ok else 'NO'}")
    rest = statistics.median(m.cpu["rest"] for m in measurements)
    if rest > NOISY_REST_PERCENT:
        print(
            f"warning: other work on the machine used a median {rest:.0f}% of a core during "
            "the measurements (column `rest`); the figures are pessimistic, rerun when it is "
            "quiet"
        )

    def median(name: str, key: str) -> float | None:
        values = [m.result[key] for m in measurements if m.scenario == name]
        return statistics.median(values) if values else None

    rps = {name: median(name, "rps") for name in SCENARIOS}
    p99 = {name: median(name, "p99_ms") for name in SCENARIOS}
    rounds = " (medians of rounds)" if args.rounds > 1 else ""
    print(f"\nratios{rounds}:")
    for top, bottom, label in (
        ("browse", "ceiling", ""),
        ("product", "ceiling", ""),
        ("browse-cold", "ceiling", "  (read cache off, for information)"),
        ("product-cold", "ceiling", "  (read cache off, for information)"),
        (
            "browse-expiring",
            "ceiling",
            f"  (bodies live {EXPIRING_TTL_SECONDS} s, for information)",
        ),
        ("ceiling", "ceiling-raw", "  (SQLAlchemy engine vs bare asyncpg pool)"),
    ):
        a, b = rps[top], rps[bottom]
        if a is not None and b is not None:
            print(f"  {top:>15} / {bottom:<11} = {a:5.0f} / {b:5.0f} = {a / b:6.1%}{label}")

    def verdict(ok: bool | None) -> str:
        return "SKIP" if ok is None else ("PASS" if ok else "FAIL")

    browse_rps, ceiling_rps = rps["browse"], rps["ceiling"]
    ratio = browse_rps / ceiling_rps if browse_rps is not None and ceiling_rps else None
    targets: list[tuple[str, bool | None, str]] = [
        (
            f"browse >= {TARGET_RATIO:.0%} of ceiling req/s",
            None if ratio is None else ratio >= TARGET_RATIO,
            "-" if ratio is None else f"{ratio:.1%}",
        ),
    ]
    for name in ("browse", "product"):
        value = p99[name]
        targets.append(
            (
                f"{name} p99 < {TARGET_P99_MS:.0f} ms at {args.clients} clients",
                None if value is None else value < TARGET_P99_MS,
                "-" if value is None else f"{value:.1f} ms",
            )
        )
    targets.append(("every response 200 and non-empty", all_ok, "yes" if all_ok else "no"))
    print(f"\ntargets{rounds}:")
    for label, passed, value in targets:
        print(f"  {verdict(passed)}  {label:<44} measured {value}")
    return all(passed is not False for _, passed, _ in targets)


# ----------------------------------------------------------------------------------------
# Main


async def run(args: argparse.Namespace, database: str) -> int:
    cancel_on_sigterm()
    dsn = database_dsn(args.pg_admin_url, database)
    sa_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"database {database}; machine: {os.cpu_count()} cores, load average "
        f"{' '.join(load)}; python {sys.version.split()[0]}"
    )
    t0 = time.perf_counter()
    await create_database(args.pg_admin_url, database)
    await upgrade(sa_url)
    print(f"migrated in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    seeded = await seed(dsn, args)
    print(
        f"seeded {seeded.products} products, {seeded.variants} variants, "
        f"{seeded.stock_rows} stock rows, {seeded.images} images, {args.vendors} vendors, "
        f"{seeded.categories} categories in {time.perf_counter() - t0:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in seeded.timings.items())
        + ")"
    )
    for name, size in seeded.sizes.items():
        print(f"  {name}: {size}")
    shares = sorted(seeded.word_share.values())
    print(
        f"search words: {len(shares)} matching 0.5-2 % of products (median "
        f"{statistics.median(shares):.2%}); {len(seeded.browse_paths)} (word, category) "
        f"pairs with > {args.limit} matches; {len(seeded.product_ids)} random product ids"
    )
    for note in seeded.notes:
        print(f"  note: {note}")

    if args.seed_only:
        return 0

    logs = Path(tempfile.mkdtemp(prefix="mk_bench_logs_"))
    app = await start_server(
        "app",
        ["marketplace.app:create_app_from_env"],
        {
            "MARKETPLACE_DATABASE_URL": sa_url,
            "MARKETPLACE_LOG_LEVEL": "WARNING",
            "MARKETPLACE_ENV": "development",
        },
        logs,
    )
    cold = await start_server(
        "app-cold",
        ["marketplace.app:create_app_from_env"],
        {
            "MARKETPLACE_DATABASE_URL": sa_url,
            "MARKETPLACE_LOG_LEVEL": "WARNING",
            "MARKETPLACE_ENV": "development",
            "MARKETPLACE_READ_CACHE_SECONDS": "0",
        },
        logs,
    )
    expiring = await start_server(
        "app-expiring",
        ["marketplace.app:create_app_from_env"],
        {
            "MARKETPLACE_DATABASE_URL": sa_url,
            "MARKETPLACE_LOG_LEVEL": "WARNING",
            "MARKETPLACE_ENV": "development",
            "MARKETPLACE_READ_CACHE_SECONDS": str(EXPIRING_TTL_SECONDS),
        },
        logs,
    )
    ceiling = await start_server(
        "ceiling",
        ["ceiling_app:create_app", "--app-dir", str(BENCH)],
        {"BENCH_DATABASE_URL": sa_url},
        logs,
    )
    print(
        f"servers: app :{app.port}, app without read cache :{cold.port}, app with "
        f"{EXPIRING_TTL_SECONDS} s bodies :{expiring.port}, ceiling "
        f":{ceiling.port} (one uvicorn worker each; logs {logs})"
    )
    scenarios = [
        Scenario("ceiling", ceiling, ["/ceiling"], '"id":"prd_'),
        Scenario("ceiling-raw", ceiling, ["/ceiling/raw"], '"id":"prd_'),
        Scenario("browse", app, seeded.browse_paths, '"data":[{', '"data":[]'),
        Scenario("product", app, [f"/v1/products/{pid}" for pid in seeded.product_ids],
                 '"variants":[{'),
        Scenario("browse-cold", cold, seeded.browse_paths, '"data":[{', '"data":[]'),
        Scenario("product-cold", cold, [f"/v1/products/{pid}" for pid in seeded.product_ids],
                 '"variants":[{'),
        Scenario("browse-expiring", expiring, seeded.browse_paths, '"data":[{', '"data":[]'),
    ]  # fmt: skip
    scenarios = [s for s in scenarios if s.name in args.scenarios]
    try:
        for scenario in scenarios:
            body = await smoke(scenario)
            print(f"  smoke {scenario.name}: 200, {len(body)} bytes")
        print(
            f"load: {args.clients} clients, {args.warmup:.0f} s warm-up + {args.duration:.0f} s "
            f"measured per scenario, {args.rounds} round(s); cpu% = percent of one core used "
            "meanwhile by the server, PostgreSQL, the load generator, everything else"
        )
        print(f"\n{_header()}")
        measurements = []
        for round_ in range(1, args.rounds + 1):
            for scenario in scenarios:
                m = await measure(scenario, args, round_)
                measurements.append(m)
                print(_fmt_row(m), flush=True)
    finally:
        stop_server(app)
        stop_server(cold)
        stop_server(expiring)
        stop_server(ceiling)
    passed = report(measurements, args)
    return 0 if passed else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--vendors", type=int, default=200)
    parser.add_argument("--images", type=int, default=1, help="images per product")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds not measured")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="repeat every scenario")
    parser.add_argument("--limit", type=int, default=20, help="browse page size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scenarios",
        type=lambda v: v.split(","),
        default=SCENARIOS,
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="create and seed the database, keep it, measure nothing (for profiling)",
    )
    args = parser.parse_args(argv)
    args.keep_db = args.keep_db or args.seed_only
    return args


def _terminate_children() -> None:
    for child in _children:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database = f"mk_bench_{secrets.token_hex(4)}"

    try:
        return asyncio.run(run(args, database))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        _terminate_children()
        if args.keep_db:
            print(f"kept database {database}: {database_dsn(args.pg_admin_url, database)}")
        else:
            asyncio.run(drop_database(args.pg_admin_url, database))
            print(f"dropped database {database}")


if __name__ == "__main__":
    sys.exit(main())
