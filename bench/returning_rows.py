"""What answering a moved row costs: the ORM's `UPDATE … RETURNING` of an entity against
`platform.direct.returning_objects`, on the real `orders_order` table (23 columns).

The checkout's settlement moves four rows this way (payment, order, vendor orders,
reservation) and reads them once. This runs the same UPDATE (status pending_payment ⇄ paid,
as the checkout's settling UPDATE) `--executions` times in one transaction for each way,
alternating the ways `--rounds` times, and prints the process CPU per statement
(`time.process_time`: PostgreSQL's own work is not counted, nor is other load's).

    .venv/bin/python bench/returning_rows.py [--executions 1500] [--rounds 3]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth); creates and drops `mk_bench_ret_<random>`.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import subprocess
import tempfile
import time
from typing import Any, cast

from checkout import BIN, app_env
from common import PG_ADMIN_URL, create_database, database_dsn, drop_database
from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from marketplace.orders.models.order import Order
from marketplace.platform import direct
from marketplace.platform.clock import utcnow
from marketplace.platform.ids import new_id

ROWS = 100
_orders = cast(Table, Order.__table__)
_WHERE = (_orders.c.id == bindparam("the_order"), _orders.c.status == bindparam("from_status"))
_VALUES: dict[str, Any] = {"status": bindparam("to_status"), "updated_at": bindparam("at")}
ORM = (
    update(Order)
    .where(Order.id == bindparam("the_order"), Order.status == bindparam("from_status"))
    .values(**_VALUES)
    .returning(Order)
)
DIRECT = direct.returning_all(Order, update(_orders).where(*_WHERE).values(**_VALUES))


def _order_row(index: int) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": new_id("ord"),
        "customer_id": f"usr_bench_{index}",
        "checkout_key": f"key-{index}",
        "status": "pending_payment",
        "currency": "EUR",
        "subtotal_amount": 1000,
        "discount_amount": 0,
        "shipping_amount": 0,
        "tax_amount": 0,
        "total_amount": 1000,
        "refunded_amount": 0,
        "shipping_address": {"country": "DE", "city": "Berlin", "line1": "Hauptstraße 1"},
        "payment_provider": "sandbox",
        "payment_status": "pending",
        "placed_at": now,
        "updated_at": now,
    }


async def _run(session: AsyncSession, way: str, ids: list[str], executions: int) -> float:
    statuses = ("pending_payment", "paid")
    started = time.process_time()
    for index in range(executions):
        # Each row alternates between the two statuses, so every UPDATE moves its row.
        lap = index // len(ids)
        params = {
            "the_order": ids[index % len(ids)],
            "from_status": statuses[lap % 2],
            "to_status": statuses[(lap + 1) % 2],
            "at": utcnow(),
        }
        if way == "orm":
            found = await session.scalar(
                ORM,
                params,
                execution_options={"synchronize_session": False, "populate_existing": True},
            )
        else:
            rows = await direct.returning_objects(session, Order, DIRECT, params)
            found = rows[0] if rows else None
        if found is None or found.status != params["to_status"]:
            raise RuntimeError(f"{way}: the UPDATE did not move order {params['the_order']}")
    return (time.process_time() - started) / executions * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    name = f"mk_bench_ret_{secrets.token_hex(4)}"
    await create_database(PG_ADMIN_URL, name)
    dsn = database_dsn(PG_ADMIN_URL, name)
    data_dir = tempfile.mkdtemp(prefix="mk_bench_ret_")
    try:
        env = app_env(dsn, data_dir)
        subprocess.run([str(BIN / "marketplace"), "migrate"], env=env, check=True)
        engine = create_async_engine(env["MARKETPLACE_DATABASE_URL"])
        rows = [_order_row(index) for index in range(ROWS)]
        async with engine.begin() as conn:
            await conn.execute(insert(_orders), rows)
        ids = [row["id"] for row in rows]
        results: dict[str, list[float]] = {"orm": [], "direct": []}
        for _ in range(args.rounds):
            for way in results:
                async with AsyncSession(engine) as session:
                    results[way].append(await _run(session, way, ids, args.executions))
                    await session.rollback()
        await engine.dispose()
    finally:
        await drop_database(PG_ADMIN_URL, name)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"UPDATE orders_order … RETURNING, {args.executions} executions x {args.rounds}:")
    for way, figures in results.items():
        shown = ", ".join(f"{f:.0f}" for f in figures)
        print(f"  {way:7s} {min(figures):6.0f} µs CPU per statement (runs: {shown})")


if __name__ == "__main__":
    asyncio.run(main())
