"""What routing costs per request, measured inside one process on requests that do no work.

Builds the application on a throw-away SQLite file and calls it as an ASGI app directly (no
server, no client), one request at a time, for requests answered before any handler runs:
unauthenticated calls (401) to routes early and late in the route table, an unknown path
(404, every route is tried) and a wrong method (405). What is left per request is the
middleware stack plus route matching, so a change to matching shows in full. Prints, per
request: the median of `--rounds` rounds of this process's CPU time per request (noisy on a
shared machine) and the Python function calls per request counted by cProfile (exact, the
figure to compare between two versions of the code).

    MARKETPLACE_LOG_LEVEL=WARNING PYTHONPATH=src .venv/bin/python bench/route_matching.py
        [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

# (method, path, status expected): first, early, middle and last routes of the table, then
# the two answers that try every route.
REQUESTS: tuple[tuple[str, str, int], ...] = (
    ("GET", "/healthz", 200),
    ("GET", "/v1/me", 401),
    ("POST", "/v1/orders", 401),
    ("GET", "/v1/vendors/me/payouts", 401),
    ("GET", "/v1/vendors/01J/webhook-endpoints/01J/deliveries", 401),
    ("GET", "/v1/no-such-thing", 404),
    ("DELETE", "/v1/me", 405),
)


async def _call(app: Any, method: str, path: str) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _measure(app: Any, requests: int, rounds: int) -> None:
    print(f"{'request':<60} {'status':>6} {'µs CPU':>8} {'calls':>7}")
    for method, path, expected in REQUESTS:
        for _ in range(50):
            status = await _call(app, method, path)
        if status != expected:
            raise SystemExit(f"{method} {path} answered {status}, expected {expected}")
        per_round = []
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(requests):
                await _call(app, method, path)
            per_round.append((time.process_time() - started) / requests * 1e6)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(100):
            await _call(app, method, path)
        profiler.disable()
        calls = pstats.Stats(profiler).total_calls / 100  # type: ignore[attr-defined]
        label = f"{method} {path}"
        print(f"{label:<60} {status:>6} {statistics.median(per_round):>8.0f} {calls:>7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MARKETPLACE_DATABASE_URL", f"sqlite+aiosqlite:///{Path(tmp)}/r.db")
        os.environ.setdefault("MARKETPLACE_LOG_LEVEL", "WARNING")
        from marketplace.app import create_app

        print(f"load average {os.getloadavg()[0]:.2f}")
        asyncio.run(_measure(create_app(), args.requests, args.rounds))


if __name__ == "__main__":
    main()
