"""Product CSV import throughput and memory, on PostgreSQL.

What it measures: a `--rows` (default 100,000) row CSV in the API's import format
(`sku,title,description,category,price,currency,quantity,low_stock_threshold,status,
image_urls`) imported through the application's own import path, in this process:

* upload: `catalog.service.imports.start_import` (what `POST /v1/vendors/{vid}/product-imports`
  calls) reading the file from disk 1 MiB at a time, committed in one unit of work;
* job: `catalog.run_product_import` run by the application's job runtime (the in-process
  broker of the embedded deployment: outbox -> relay -> delivery -> handler), batch after
  batch, with its continuations, until the import's status is `succeeded` or `failed`.

It prints rows/s (end to end, and for the job alone from the import's `started_at` to
`finished_at`), the process's RSS sampled while the job runs (by progress), the peak RSS
(`getrusage`), and the growth over the last three quarters of the rows: memory should stay
flat however long the file is. `--tracemalloc` also traces Python allocations and prints the
sites that grew most (slower: compare its rows/s with a run without it). `--reimport` runs
the same file a second time, which updates every SKU instead of creating it.

Target: >= 2,000 rows/s. The database (`mk_bench_imp_<random>`) is created, migrated and
seeded with one approved vendor and the ~50-category tree, and dropped at the end (also on
failure) unless `--keep-db`. Image URLs are left empty: fetching them needs the network.

    .venv/bin/python bench/catalog_import.py [--rows 100000] [--reimport] [--tracemalloc]
        [--keep-db]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import os
import random
import re
import resource
import secrets
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import asyncpg
from common import (
    CLK_TCK,
    PG_ADMIN_URL,
    CategoryRow,
    Copier,
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
    vendor_rows,
)
from sqlalchemy import event, func, select

from marketplace.bootstrap import Container, build_container
from marketplace.catalog.models import Product, ProductImport, Variant
from marketplace.catalog.service.imports import (
    BATCH_ROWS,
    RUN_IMPORT_JOB,
    register_imports,
    start_import,
)
from marketplace.identity.public import PERMISSIONS, Principal, VendorAccess
from marketplace.migrations import upgrade
from marketplace.settings import Settings

TARGET_ROWS_PER_SECOND = 2_000
FLAT_GROWTH_MIB = 25.0
POLL_SECONDS = 0.25
COLUMNS = (
    "sku",
    "title",
    "description",
    "category",
    "price",
    "currency",
    "quantity",
    "low_stock_threshold",
    "status",
    "image_urls",
)
MIB = 1024 * 1024


def rss_bytes() -> int:
    """Resident set size of this process now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class StatementCounter:
    """Counts the SQL statements the engine sends (executemany counts once), by shape."""

    def __init__(self) -> None:
        self.by_shape: collections.Counter[str] = collections.Counter()

    def __call__(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        shape = re.sub(r"\s+", " ", statement).strip()
        shape = re.sub(r"\(\$\d+.*", "(...)", shape)  # parameter lists vary in length
        self.by_shape[shape[:110]] += 1

    def report(self, rows: int) -> None:
        total = sum(self.by_shape.values())
        print(f"\nSQL statements sent: {total} ({total / rows:.2f} per row); most frequent:")
        for shape, count in self.by_shape.most_common(12):
            print(f"  {count:>8}  {count / rows:5.2f}/row  {shape}")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# ----------------------------------------------------------------------------------------
# The file


def write_csv(path: Path, rows: int, categories: Sequence[CategoryRow], currency: str) -> None:
    """`rows` products in the API's CSV format: unique SKUs, leaf categories by slug,
    prices in major units, descriptions with commas and quotes the writer has to escape."""
    rng = random.Random(11)
    leaves = [c for c in categories if c.is_leaf]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(rows):
            title, description = product_text(rng)
            if n % 50 == 0:
                description += ' Note: "limited run", hand-numbered.'
            writer.writerow(
                (
                    f"IMP-{n:07d}",
                    title,
                    description,
                    slugify(rng.choice(leaves).name),
                    f"{rng.randint(300, 30_000) / 100:.2f}",
                    currency,
                    0 if rng.random() < 0.05 else rng.randint(1, 500),
                    5,
                    "active",
                    "",
                )
            )


class DiskUpload:
    """What `start_import` reads from: the `read(size)` of FastAPI's `UploadFile`."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    async def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)


# ----------------------------------------------------------------------------------------
# Seeding and running


@dataclass
class Seeded:
    vendor_id: str
    owner_id: str
    currency: str
    categories: list[CategoryRow]


async def seed(dsn: str) -> Seeded:
    rng = random.Random(5)
    now = datetime.now(UTC).replace(microsecond=0)
    vendor = build_vendors(1, rng, now)[0]
    categories = build_categories(rng, now)
    notes: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        vendors = Copier(conn, "vendors_vendor", await table_columns(conn, "vendors_vendor"))
        await vendors.copy(list(vendor_rows([vendor])), notes)
        tree = Copier(conn, "catalog_category", await table_columns(conn, "catalog_category"))
        await tree.copy(
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
                    "created_at": now,
                }
                for c in categories
            ],
            notes,
        )
    finally:
        await conn.close()
    for note in notes:
        print(f"  note: {note}")
    owner_id = vendor.id.replace("ven_", "usr_")
    return Seeded(vendor.id, owner_id, vendor.currency, categories)


@dataclass
class Sample:
    at: float
    processed: int
    rss: int


@dataclass
class Pass:
    name: str
    rows: int
    upload_seconds: float = 0.0
    total_seconds: float = 0.0
    job_seconds: float = 0.0
    status: str = ""
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)
    rss_before: int = 0
    samples: list[Sample] = field(default_factory=list)
    traced_peak: int | None = None
    grew: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)


@dataclass
class Cpu:
    """CPU seconds used so far by this process, by PostgreSQL, and by the whole machine."""

    own: float
    postgres: float
    machine: float
    at: float

    @classmethod
    def take(cls) -> Cpu:
        return cls(
            own=proc_cpu(os.getpid()),
            postgres=sum(proc_cpu(pid) for pid in postgres_pids()),
            machine=machine_busy()[0] / CLK_TCK,
            at=time.perf_counter(),
        )


def cpu_shares(before: Cpu, after: Cpu) -> dict[str, float]:
    """Percent of one core used between the two by this process, PostgreSQL, the rest."""
    wall = after.at - before.at
    own = 100 * (after.own - before.own) / wall
    postgres = 100 * (after.postgres - before.postgres) / wall
    machine = 100 * (after.machine - before.machine) / wall
    return {"own": own, "postgres": postgres, "rest": machine - own - postgres}


def _rss_at(samples: Sequence[Sample], fraction: float, rows: int) -> Sample:
    """The first sample taken once `fraction` of the rows were processed."""
    for sample in samples:
        if sample.processed >= fraction * rows:
            return sample
    return samples[-1]


async def run_pass(
    container: Container, access: VendorAccess, path: Path, name: str, rows: int, *, trace: bool
) -> Pass:
    result = Pass(name, rows)
    result.rss_before = rss_bytes()
    if trace:
        tracemalloc.start(10)
        tracemalloc.reset_peak()
    quarter: tracemalloc.Snapshot | None = None
    cpu_before = Cpu.take()
    started = time.perf_counter()
    with path.open("rb") as handle:
        async with container.uow_factory() as uow:
            record = await start_import(
                uow, access=access, file=DiskUpload(handle), filename=path.name, dry_run=False
            )
            import_id = record.id
            await uow.commit()
    result.upload_seconds = time.perf_counter() - started
    deadline = started + 3600  # bounded: one hour at most
    while time.perf_counter() < deadline:
        async with container.db.session() as session:
            status, processed = (
                await session.execute(
                    select(ProductImport.status, ProductImport.processed_rows).where(
                        ProductImport.id == import_id
                    )
                )
            ).one()
        result.samples.append(Sample(time.perf_counter() - started, processed, rss_bytes()))
        if trace and quarter is None and processed >= rows / 4:
            quarter = tracemalloc.take_snapshot()
        if status in ("succeeded", "failed"):
            break
        await asyncio.sleep(POLL_SECONDS)
    else:
        raise RuntimeError(f"import {import_id} did not finish within an hour")
    result.total_seconds = time.perf_counter() - started
    result.cpu = cpu_shares(cpu_before, Cpu.take())
    if trace:
        result.traced_peak = tracemalloc.get_traced_memory()[1]
        if quarter is not None:
            stats = tracemalloc.take_snapshot().compare_to(quarter, "lineno")
            result.grew = [str(s) for s in stats[:8]]
        tracemalloc.stop()
    async with container.db.session() as session:
        record = await session.get(ProductImport, import_id)
        assert record is not None
        result.status = record.status
        result.created = record.created_rows
        result.updated = record.updated_rows
        result.failed = record.failed_rows
        result.errors = list(record.errors[:5])
        if record.started_at and record.finished_at:
            result.job_seconds = (record.finished_at - record.started_at).total_seconds()
    return result


def report_pass(p: Pass) -> bool:
    rows_per_s = p.rows / p.total_seconds
    job_rate = p.rows / p.job_seconds if p.job_seconds else float("nan")
    print(f"\n{p.name}: {p.status}; created {p.created}, updated {p.updated}, failed {p.failed}")
    for error in p.errors:
        print(f"  error: {error}")
    print(
        f"  time: upload {p.upload_seconds:.1f} s, end to end {p.total_seconds:.1f} s, "
        f"job (started_at -> finished_at) {p.job_seconds:.1f} s"
    )
    print(f"  rows/s: end to end {rows_per_s:,.0f}, job alone {job_rate:,.0f}")
    print(
        f"  CPU meanwhile, % of one core: this process {p.cpu['own']:.0f}%, PostgreSQL "
        f"{p.cpu['postgres']:.0f}%, everything else on the machine {p.cpu['rest']:.0f}%"
    )
    print(f"  RSS before upload {p.rss_before / MIB:.0f} MiB; during the job, by progress:")
    for fraction in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0):
        s = _rss_at(p.samples, fraction, p.rows)
        print(f"    {s.processed:>8} rows  {s.at:6.1f} s  RSS {s.rss / MIB:6.1f} MiB")
    first = _rss_at(p.samples, 0.25, p.rows)
    last = p.samples[-1]
    growth = (last.rss - first.rss) / MIB
    print(
        f"  RSS growth over the last 75% of rows: {growth:+.1f} MiB; "
        f"max sampled {max(s.rss for s in p.samples) / MIB:.0f} MiB"
    )
    if p.traced_peak is not None:
        print(f"  tracemalloc: peak traced {p.traced_peak / MIB:.1f} MiB; grew most since 25%:")
        for line in p.grew:
            print(f"    {line}")
    ok = p.status == "succeeded" and p.failed == 0 and p.created + p.updated == p.rows
    rate_ok = rows_per_s >= TARGET_ROWS_PER_SECOND
    flat = growth < FLAT_GROWTH_MIB
    verdict = {True: "PASS", False: "FAIL"}
    print(f"  {verdict[ok]}  every row landed ({p.created + p.updated}/{p.rows})")
    print(
        f"  {verdict[rate_ok]}  >= {TARGET_ROWS_PER_SECOND:,} rows/s end to end "
        f"(measured {rows_per_s:,.0f}; {rows_per_s / TARGET_ROWS_PER_SECOND:.0%} of target)"
    )
    print(
        f"  {verdict[flat]}  memory flat: RSS growth over the last 75% of rows "
        f"< {FLAT_GROWTH_MIB:.0f} MiB (measured {growth:+.1f} MiB)"
    )
    return ok and rate_ok and flat


async def run(args: argparse.Namespace, database: str, workdir: Path) -> int:
    cancel_on_sigterm()
    dsn = database_dsn(args.pg_admin_url, database)
    sa_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"database {database}; machine: {os.cpu_count()} cores, load average {load}; "
        f"python {sys.version.split()[0]}"
    )
    await create_database(args.pg_admin_url, database)
    await upgrade(sa_url)
    seeded = await seed(dsn)

    path = workdir / "products.csv"
    t0 = time.perf_counter()
    write_csv(path, args.rows, seeded.categories, seeded.currency)
    print(
        f"wrote {args.rows} rows, {path.stat().st_size / MIB:.1f} MiB, in "
        f"{time.perf_counter() - t0:.1f} s ({path}); batches of {BATCH_ROWS} rows"
    )

    settings = Settings(database_url=sa_url, log_level="WARNING", env="development")
    container = build_container(settings)
    if not container.registry.is_job(RUN_IMPORT_JOB):
        register_imports(container.registry)
        print("  note: the import job was not registered by the catalog context; registered here")
    counter = StatementCounter()
    if args.count_queries:
        event.listen(container.db.engine.sync_engine, "before_cursor_execute", counter)
    principal = Principal(kind="user", id=seeded.owner_id)
    access = VendorAccess(principal, seeded.vendor_id, "owner", frozenset(PERMISSIONS))
    passes: list[Pass] = []
    await container.jobs.start(loops=True)
    try:
        names = ["import (creates)"] + (["re-import (updates)"] if args.reimport else [])
        for name in names:
            passes.append(
                await run_pass(container, access, path, name, args.rows, trace=args.tracemalloc)
            )
        async with container.db.session() as session:
            products = await session.scalar(
                select(func.count()).where(Product.vendor_id == seeded.vendor_id)
            )
            variants = await session.scalar(
                select(func.count()).where(Variant.vendor_id == seeded.vendor_id)
            )
    finally:
        # Bounded: when interrupted mid-import, the running job is abandoned (the database
        # is dropped WITH (FORCE) afterwards) rather than waited for.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(container.jobs.stop(), timeout=10)
        await container.db.dispose()
    print(f"\nin the database: {products} products, {variants} variants")
    if args.count_queries:
        counter.report(args.rows * len(passes))
    passed = True
    for p in passes:
        passed = report_pass(p) and passed
    print(f"\npeak RSS of this process (getrusage): {peak_rss_bytes() / MIB:.0f} MiB")
    return 0 if passed else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reimport", action="store_true", help="import the file again (updates)")
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python allocations")
    parser.add_argument(
        "--count-queries", action="store_true", help="count the SQL statements sent, by shape"
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database = f"mk_bench_imp_{secrets.token_hex(4)}"

    with tempfile.TemporaryDirectory(prefix="mk_bench_import_") as workdir:
        try:
            return asyncio.run(run(args, database, Path(workdir)))
        except (asyncio.CancelledError, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
            return 130
        finally:
            if args.keep_db:
                dsn = database_dsn(args.pg_admin_url, database)
                print(f"kept database {database}: {dsn}")
            else:
                asyncio.run(drop_database(args.pg_admin_url, database))
                print(f"dropped database {database}")


if __name__ == "__main__":
    sys.exit(main())
