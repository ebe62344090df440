"""Checkout throughput on PostgreSQL, next to pgbench's TPC-B-like TPS measured in the same run.

What it measures: `POST /v1/orders` (Idempotency-Key, a 2-vendor cart given as items, the
sandbox provider with `pm_card_visa`) by `--clients` concurrent customers, each on its own
keep-alive connection with its own access token, against one uvicorn worker serving the
application; jobs (the sandbox's webhook deliveries, receipts and statements, notifications)
run in one `marketplace worker` process fed through Redis Streams, as in a deployment with a
broker.

Every checkout reserves stock, prices, splits into vendor orders, starts the payment, commits,
charges through the sandbox, posts the capture's ledger transaction and settles the order:
three transactions (the order, with the Idempotency-Key's reservation; the provider's records;
the settlement, with the stored response).
The reference is `pgbench -b tpcb-like` (5 statements in 1 transaction) with the same number
of clients, run on its own scratch database in the same run.

It prints orders/s, p50/p90/p99 latency, the answers' statuses, CPU per process, and checks
afterwards that every 201 is a paid order and that stock went down by exactly the units sold.
Targets: >= 150 orders/s, p99 < 250 ms.

    .venv/bin/python bench/checkout.py [--clients 32] [--duration 20] [--warmup 5]
        [--vendors 20] [--products 10] [--keep-db] [--worker-nice N] [--hold-jobs]

Deferrable follow-ups (documents, order e-mails) wait while the marketplace is in a burst
(`MARKETPLACE_JOB_BURST_MESSAGES_PER_SECOND`), so the worker runs only what must not wait
(the provider's webhooks, the orders' payment follow-ups) during the load; the count held is
reported with the drain. `--hold-jobs` pauses the job worker for the load and resumes it
after: the checkout's own ceiling on the box, with every follow-up job done after the burst.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth), Redis on 127.0.0.1:6379 and `pgbench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from common import (
    PG_ADMIN_URL,
    create_database,
    database_dsn,
    drop_database,
    machine_busy,
    postgres_pids,
    proc_cpu,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/15"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--vendors", type=int, default=20)
    parser.add_argument("--products", type=int, default=10, help="per vendor")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=None,
        help="MARKETPLACE_WORKER_NICE for the job worker (default: the setting's default, "
        "as deployed; 0: same priority as the API)",
    )
    parser.add_argument(
        "--hold-jobs",
        action="store_true",
        help=(
            "pause the job worker (SIGSTOP) while the load runs and resume it afterwards: "
            "the checkout's own ceiling, with the follow-up work after the burst"
        ),
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the job worker to finish the run's follow-up jobs",
    )
    return parser.parse_args(argv)


def app_env(dsn: str, data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "MARKETPLACE_DATABASE_URL": dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
        "MARKETPLACE_BROKER_URL": REDIS_URL,
        "MARKETPLACE_BROKER_QUEUE": f"mk-bench-{secrets.token_hex(4)}",
        "MARKETPLACE_RUN_JOBS_IN_PROCESS": "false",
        "MARKETPLACE_LOG_LEVEL": "WARNING",
        "MARKETPLACE_ENV": "development",
        "MARKETPLACE_DATA_DIR": data_dir,
    }


async def seed(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Vendors with a shipping option and products with plenty of stock, and customers with
    access tokens, through the application's own use cases."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT / "src"))
    from marketplace.bootstrap import build_container
    from marketplace.catalog.schemas.category import CategoryCreate
    from marketplace.catalog.schemas.product import ProductCreate
    from marketplace.catalog.service import category as category_service
    from marketplace.catalog.service import product as product_service
    from marketplace.identity import service as identity_service
    from marketplace.identity.domain import Principal, VendorAccess
    from marketplace.settings import Settings
    from marketplace.vendors.schemas.store import VendorApply, VendorSettings
    from marketplace.vendors.service import store

    container = build_container(Settings())
    async with container.uow_factory() as uow:
        category = await category_service.create_category(
            uow,
            body=CategoryCreate(name="Bench goods", slug="bench-goods"),
            actor_id="usr_bench",
            actor_role="admin",
        )
        await uow.commit()
    rng = random.Random(7)
    shops: list[dict[str, Any]] = []
    for v in range(args.vendors):
        async with container.uow_factory() as uow:
            owner = await identity_service.register(
                uow,
                container.identity,
                email=f"vendor{v}@bench.example",
                password="correct horse battery staple",
                name=f"Vendor {v}",
            )
            vendor = await store.apply(
                uow,
                container.cipher,
                user_id=owner.id,
                body=VendorApply.model_validate(
                    {
                        "name": f"Bench store {v}",
                        "slug": f"bench-store-{v}",
                        "business": {
                            "legal_name": f"Bench {v} GmbH",
                            "country": "DE",
                            "tax_id": "DE123456789",
                            "address": {"line1": "Torstraße 1", "city": "Berlin", "country": "DE"},
                        },
                        "contact_email": f"store{v}@bench.example",
                        "currency": "EUR",
                    }
                ),
            )
            await store.review(
                uow,
                vendor_id=vendor.id,
                action="approve",
                reason=None,
                actor_id="b",
                actor_role="bench",
            )
            access = VendorAccess(
                principal=Principal(kind="user", id=owner.id),
                vendor_id=vendor.id,
                role="owner",
                permissions=frozenset({"store.manage", "products.write", "products.read"}),
            )
            await store.put_settings(
                uow,
                access=access,
                body=VendorSettings.model_validate(
                    {
                        "shipping_options": [
                            {
                                "name": "Standard",
                                "price": {"amount": 490, "currency": "EUR"},
                                "delivery_days_min": 2,
                                "delivery_days_max": 5,
                            }
                        ]
                    }
                ),
            )
            await uow.commit()
        from marketplace.vendors import public as vendors

        async with container.uow_factory() as uow:
            option = (await vendors.shipping_options(uow, vendor.id))[0].id
        variants = []
        for p in range(args.products):
            async with container.uow_factory() as uow:
                product = await product_service.create_product(
                    uow,
                    access=access,
                    body=ProductCreate.model_validate(
                        {
                            "title": f"Bench product {v}-{p}",
                            "category_id": category.id,
                            "status": "active",
                            "variants": [
                                {
                                    "sku": f"B-{v}-{p}",
                                    "price": {"amount": rng.randint(500, 9000), "currency": "EUR"},
                                    "inventory": {"quantity": 1_000_000},
                                }
                            ],
                        }
                    ),
                )
                await uow.commit()
            from marketplace.catalog.repository import product as product_repo

            async with container.uow_factory() as uow:
                variants.append((await product_repo.live_variants(uow.session, [product.id]))[0].id)
        shops.append({"vendor_id": vendor.id, "option_id": option, "variants": variants})
    tokens = []
    for c in range(args.clients):
        async with container.uow_factory() as uow:
            user = await identity_service.register(
                uow,
                container.identity,
                email=f"customer{c}@bench.example",
                password="correct horse battery staple",
                name=f"Customer {c}",
            )
            await uow.commit()
        token, _ = container.identity.access_tokens.mint(user_id=user.id, platform_role=None)
        tokens.append(token)
    await container.db.dispose()
    return {"shops": shops, "tokens": tokens}


def bodies(shops: list[dict[str, Any]], count: int, rng: random.Random) -> list[str]:
    made = []
    for _ in range(count):
        a, b = rng.sample(shops, 2)
        made.append(
            json.dumps(
                {
                    "items": [
                        {"variant_id": rng.choice(a["variants"]), "quantity": 1},
                        {"variant_id": rng.choice(b["variants"]), "quantity": rng.randint(1, 2)},
                    ],
                    "shipping_address": {
                        "name": "Bench Customer",
                        "line1": "Hauptstraße 5",
                        "city": "Berlin",
                        "postal_code": "10115",
                        "country": "DE",
                    },
                    "shipping_options": {
                        a["vendor_id"]: a["option_id"],
                        b["vendor_id"]: b["option_id"],
                    },
                    "payment": {"provider": "sandbox", "payment_method": "pm_card_visa"},
                }
            )
        )
    return made


def pgbench(admin_url: str, clients: int, seconds: float) -> float:
    """TPC-B-like TPS on a scratch database (scale 10), same client count."""
    name = f"mk_bench_pgb_{secrets.token_hex(4)}"
    asyncio.run(create_database(admin_url, name))
    dsn = database_dsn(admin_url, name)
    try:
        subprocess.run(
            ["pgbench", "-i", "-s", "10", "-q", dsn], check=True, capture_output=True, text=True
        )
        run = subprocess.run(
            [
                "pgbench",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(int(seconds)),
                "-M",
                "prepared",
                dsn,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        asyncio.run(drop_database(admin_url, name))
    for line in run.stdout.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise RuntimeError(f"no tps in pgbench output:\n{run.stdout}")


def wait_http(port: int, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the application did not become ready")


async def job_backlog(dsn: str, timeout: float) -> dict[str, Any]:
    """Deliveries still pending now, and how long the job worker (still running, no new
    checkouts coming) takes to finish them: a checkout rate the worker cannot follow is a
    backlog that grows for as long as the sale lasts."""
    conn = await asyncpg.connect(dsn)
    query = (
        "SELECT count(*) FROM platform_delivery WHERE status = 'pending' "
        "AND next_attempt_at <= now() + interval '1 second'"
    )
    unrelayed = "SELECT count(*) FROM platform_outbox_message WHERE published_at IS NULL"
    try:
        started = time.perf_counter()
        at_end = int(await conn.fetchval(query)) + int(await conn.fetchval(unrelayed))
        # Written during the burst but not handed to the broker: the deferrable follow-ups.
        held = int(
            await conn.fetchval(
                "SELECT count(*) FROM platform_delivery "
                "WHERE status = 'pending' AND kicked_at IS NULL"
            )
        )
        pending = at_end
        while pending and time.perf_counter() - started < timeout:
            await asyncio.sleep(0.5)
            pending = int(await conn.fetchval(query)) + int(await conn.fetchval(unrelayed))
        drained = time.perf_counter() - started if pending == 0 else None
        # Deliveries per paid order, counted once everything is relayed (with the jobs held,
        # most of the run's work was still unrelayed messages when the load stopped).
        per_order = await conn.fetchval(
            "SELECT count(*)::float / greatest(1, (SELECT count(*) FROM orders_order "
            "WHERE status = 'paid')) FROM platform_delivery"
        )
        return {
            "pending_at_end": at_end,
            "held_at_end": held,
            "pending_now": pending,
            "drain_s": drained,
            "worker_orders_per_s": (at_end / per_order / drained)
            if drained and per_order
            else float("nan"),
        }
    finally:
        await conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("pgbench") is None:
        print("pgbench not found", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    python = sys.version.split()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f}; python {python}")
    name = f"mk_bench_chk_{secrets.token_hex(4)}"
    asyncio.run(create_database(args.pg_admin_url, name))
    dsn = database_dsn(args.pg_admin_url, name)
    data_dir = tempfile.mkdtemp(prefix="mk_bench_chk_")
    env = app_env(dsn, data_dir)
    server = worker = None
    try:
        subprocess.run([str(BIN / "marketplace"), "migrate"], env=env, check=True)
        started = time.perf_counter()
        seeded = asyncio.run(seed(env, args))
        print(
            f"seeded {args.vendors} vendors x {args.products} products, {args.clients} customers "
            f"in {time.perf_counter() - started:.1f} s"
        )
        tps = pgbench(args.pg_admin_url, args.clients, args.duration)
        print(f"pgbench tpcb-like, {args.clients} clients, {args.duration:.0f} s: {tps:.0f} tps")

        port = 18000 + random.randint(0, 999)
        logs = Path(data_dir)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "marketplace.app:create_app_from_env",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=open(logs / "server.log", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        worker = subprocess.Popen(
            [str(BIN / "marketplace"), "worker"],
            env=env
            if args.worker_nice is None
            else {**env, "MARKETPLACE_WORKER_NICE": str(args.worker_nice)},
            stdout=open(logs / "worker.log", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        wait_http(port)
        spec = {
            "port": port,
            "paths": ["/v1/orders"],
            "clients": args.clients,
            "warmup": args.warmup,
            "duration": args.duration,
            "method": "POST",
            "bodies": bodies(seeded["shops"], 500, random.Random(11)),
            "client_headers": [{"Authorization": f"Bearer {t}"} for t in seeded["tokens"]],
            "unique_header": "Idempotency-Key",
            "ok_status": 201,
            "must_contain": '"status":"paid"',
        }
        pids = {"server": server.pid, "worker": worker.pid}
        cpu_before = {k: proc_cpu(p) for k, p in pids.items()}
        # Per backend: a connection opened during the run counts from zero, one closed
        # during it is lost (rare: the pools keep theirs).
        pg_before = {p: proc_cpu(p) for p in postgres_pids()}
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine_before = machine_busy()
        if args.hold_jobs:
            os.kill(worker.pid, signal.SIGSTOP)
        t0 = time.perf_counter()
        run = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "loadgen.py")],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - t0
        if args.hold_jobs:
            os.kill(worker.pid, signal.SIGCONT)
        result = json.loads(run.stdout)
        cpu = {k: 100 * (proc_cpu(p) - cpu_before[k]) / elapsed for k, p in pids.items()}
        pg_after = {p: proc_cpu(p) for p in postgres_pids()}
        cpu["postgres"] = (
            100 * sum(used - pg_before.get(p, 0.0) for p, used in pg_after.items()) / elapsed
        )
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu["loadgen"] = (
            100
            * (
                children.ru_utime
                + children.ru_stime
                - children_before.ru_utime
                - children_before.ru_stime
            )
            / elapsed
        )
        machine_after = machine_busy()
        busy = machine_after[0] - machine_before[0]
        total = machine_after[1] - machine_before[1]
        # Everything else that ran meanwhile (other work on the machine, the kernel), in
        # percent of one core: the noise indicator.
        cores_busy = (os.cpu_count() or 1) * busy / total if total else float("nan")
        cpu["rest"] = 100 * cores_busy - sum(cpu.values())
        print(
            f"\ncheckout: {result['rps']:.0f} orders/s, p50 {result['p50_ms']:.1f} ms, "
            f"p90 {result['p90_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
            f"max {result['max_ms']:.1f} ms; "
            f"statuses {result['statuses']}, errors {result['errors']}"
            + (
                f" (job worker at nice {args.worker_nice})"
                if args.worker_nice is not None
                else " (job worker at its default nice)"
            )
            + (" (job worker paused during the load)" if args.hold_jobs else "")
        )
        print(
            "cpu, % of one core over warm-up + measurement: "
            + ", ".join(f"{k} {v:.0f}%" for k, v in cpu.items())
        )
        for sample in result.get("samples", [])[:3]:
            print(f"  sample: {sample}")
        if len(result["windows"]) > 1:
            print(
                "per 10 s: "
                + " | ".join(
                    f"{w['rps']:.0f}/s p50 {w['p50_ms']:.0f} p99 {w['p99_ms']:.0f}"
                    for w in result["windows"]
                )
            )
        ratio = result["rps"] / tps if tps else 0.0
        print(f"checkout orders/s / pgbench tps = {result['rps']:.0f} / {tps:.0f} = {ratio:.1%}")

        async def check() -> tuple[int, int]:
            conn = await asyncpg.connect(dsn)
            try:
                paid = await conn.fetchval(
                    "SELECT count(*) FROM orders_order WHERE status = 'paid'"
                )
                sold = await conn.fetchval(
                    "SELECT coalesce(sum(1000000 - on_hand), 0) FROM inventory_stock"
                )
                units = await conn.fetchval(
                    "SELECT coalesce(sum(i.quantity), 0) FROM orders_order_item i "
                    "JOIN orders_order o ON o.id = i.order_id WHERE o.status = 'paid'"
                )
                return int(paid), int(sold) - int(units)
            finally:
                await conn.close()

        paid, drift = asyncio.run(check())
        print(
            f"paid orders in the database: {paid}; stock sold minus units in paid orders: {drift}"
        )
        backlog = asyncio.run(job_backlog(dsn, args.drain_timeout))
        print(
            f"jobs behind the checkouts (receipts, statements, notifications, the provider's "
            f"webhooks): {backlog['pending_at_end']} deliveries pending when the load stopped "
            f"({backlog['pending_at_end'] / max(paid, 1):.1f} per paid order, "
            f"{backlog['held_at_end']} of them held as deferrable during the burst); "
            + (
                f"the worker cleared them {backlog['drain_s']:.1f} s later, "
                f"~{backlog['worker_orders_per_s']:.1f} paid orders' jobs per second"
                if backlog["drain_s"] is not None
                else f"{backlog['pending_now']} still pending after {args.drain_timeout:.0f} s"
            )
        )
        ok = result["rps"] >= 150 and result["p99_ms"] < 250 and drift == 0
        print(
            f"{'PASS' if result['rps'] >= 150 else 'FAIL'}  >= 150 orders/s "
            f"(measured {result['rps']:.0f})"
        )
        print(
            f"{'PASS' if result['p99_ms'] < 250 else 'FAIL'}  p99 < 250 ms "
            f"(measured {result['p99_ms']:.1f} ms)"
        )
        print(f"{'PASS' if drift == 0 else 'FAIL'}  stock moved by exactly the units sold")
        return 0 if ok else 1
    finally:
        for proc in (server, worker):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if args.keep_db:
            print(f"kept database {name}: {dsn}")
        else:
            asyncio.run(drop_database(args.pg_admin_url, name))
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
