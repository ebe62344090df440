"""Closed-loop HTTP/1.1 load generator for the benchmarks (loopback only).

Measures, for one scenario: requests per second and latency percentiles (p50, p90, p99,
max) of N concurrent clients, each on its own keep-alive connection, issuing its next GET as
soon as the previous response has been read in full. Requests that complete during the
warm-up are not counted; the measured window is `duration` seconds after it.

Run by `catalog_browse.py` in its own process (so it does not share the server's event
loop or core); it reads a JSON spec on stdin and prints one JSON result on stdout:

    echo '{"port": 8000, "paths": ["/healthz"], "clients": 32, "warmup": 2,
           "duration": 5}' | python bench/loadgen.py

It speaks just enough HTTP/1.1 over asyncio streams (Content-Length and chunked bodies,
`Connection: close`) to stay far cheaper per request than httpx or aiohttp, so one core of
load generation can saturate one core of server. Every response's status is checked, and
its body against `must_contain` / `must_not_contain` byte markers (non-empty answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
REQUEST_TIMEOUT = 10.0
MAX_SAMPLES = 5


class ProtocolError(Exception):
    pass


@dataclass
class Spec:
    port: int
    paths: list[str]
    clients: int = 32
    warmup: float = 5.0
    duration: float = 20.0
    must_contain: str | None = None
    must_not_contain: str | None = None
    seed: int = 1
    # Writes (checkout): every request is `method` with one of `bodies` (JSON), each client
    # sends its own `client_headers[i % len]` (its customer's token), and `unique_header`
    # (e.g. Idempotency-Key) gets a value no other request uses.
    method: str = "GET"
    bodies: list[str] | None = None
    client_headers: list[dict[str, str]] | None = None
    unique_header: str | None = None
    ok_status: int = 200

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Spec:
        return cls(**raw)


@dataclass
class Tally:
    latencies_ns: list[int] = field(default_factory=list)
    # When each measured request finished, in seconds from the window's start.
    finished_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    empty: int = 0
    samples: list[str] = field(default_factory=list)

    def sample(self, text: str) -> None:
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(text[:300])


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # trailers end with an empty line
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bool]:
    """Send one request; return (status, body, keep_alive)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise ProtocolError(head[:80].decode(errors="replace"))
    status = int(head[9:12])
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in head[:-4].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif key == b"connection":
            keep_alive = b"close" not in value.lower()
    if chunked:
        body = await _read_chunked(reader)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body = await reader.read()
        keep_alive = False
    return status, body, keep_alive


def _write_request(spec: Spec, path: str, body: str, headers: dict[str, str], unique: str) -> bytes:
    payload = body.encode()
    lines = [
        f"{spec.method} {path} HTTP/1.1",
        f"Host: {HOST}:{spec.port}",
        "User-Agent: marketplace-bench",
        "Accept: application/json",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    if spec.unique_header:
        lines.append(f"{spec.unique_header}: {unique}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _client(
    spec: Spec,
    requests: list[bytes],
    rng: random.Random,
    window: tuple[float, float],
    out: Tally,
    index: int = 0,
) -> None:
    start, end = window
    contain = spec.must_contain.encode() if spec.must_contain else None
    not_contain = spec.must_not_contain.encode() if spec.must_not_contain else None
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < end:
        if writer is None or reader is None:
            try:
                reader, writer = await asyncio.open_connection(HOST, spec.port)
            except OSError as exc:
                out.errors += 1
                out.sample(f"connect: {exc!r}")
                await asyncio.sleep(0.05)
                continue
        if spec.bodies is not None:
            sent_count = len(out.latencies_ns) + out.errors + len(out.samples)
            request = _write_request(
                spec,
                rng.choice(spec.paths),
                rng.choice(spec.bodies),
                spec.client_headers[index % len(spec.client_headers)]
                if spec.client_headers
                else {},
                f"bench-{spec.seed}-{index}-{sent_count}-{rng.getrandbits(48):x}",
            )
        else:
            request = rng.choice(requests)
        sent = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status, body, keep_alive = await _exchange(reader, writer, request)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError) as exc:
            if sent >= start:
                out.errors += 1
                out.sample(f"{request.split(b' ')[1].decode()}: {exc!r}")
            writer.close()
            reader = writer = None
            continue
        done = time.perf_counter()
        if not keep_alive:
            writer.close()
            reader = writer = None
        if sent < start or done > end:
            continue  # warm-up, or finished after the window closed
        out.latencies_ns.append(int((done - sent) * 1e9))
        out.finished_s.append(done - start)
        out.statuses[status] = out.statuses.get(status, 0) + 1
        if status != spec.ok_status:
            out.sample(f"{status} {request.split(b' ')[1].decode()}: {body[:200]!r}")
        elif (contain is not None and contain not in body) or (
            not_contain is not None and not_contain in body
        ):
            out.empty += 1
            out.sample(f"empty {request.split(b' ')[1].decode()}: {body[:200]!r}")
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _percentile(sorted_values: list[int], fraction: float) -> float:
    """Nearest-rank percentile in milliseconds."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank] / 1e6


WINDOW_SECONDS = 10.0


def _windows(tallies: list[Tally], duration: float) -> list[dict[str, float]]:
    """Rate and p99 per 10 s of the measurement: a tail that grows with a sale's length shows
    here, where the whole run's percentiles would average it away."""
    count = max(1, math.ceil(duration / WINDOW_SECONDS))
    buckets: list[list[int]] = [[] for _ in range(count)]
    for tally in tallies:
        for finished, latency in zip(tally.finished_s, tally.latencies_ns, strict=True):
            buckets[min(count - 1, int(finished // WINDOW_SECONDS))].append(latency)
    windows = []
    for i, bucket in enumerate(buckets):
        length = min(WINDOW_SECONDS, duration - i * WINDOW_SECONDS)
        bucket.sort()
        windows.append(
            {
                "rps": len(bucket) / length if length > 0 else 0.0,
                "p50_ms": _percentile(bucket, 0.50),
                "p99_ms": _percentile(bucket, 0.99),
            }
        )
    return windows


async def run(spec: Spec) -> dict[str, Any]:
    requests = [
        (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{spec.port}\r\n"
            "User-Agent: marketplace-bench\r\nAccept: application/json\r\n\r\n"
        ).encode()
        for path in spec.paths
    ]
    now = time.perf_counter()
    window = (now + spec.warmup, now + spec.warmup + spec.duration)
    tallies = [Tally() for _ in range(spec.clients)]
    await asyncio.gather(
        *(
            _client(spec, requests, random.Random(spec.seed * 1000 + i), window, tally, i)
            for i, tally in enumerate(tallies)
        )
    )
    latencies = sorted(ns for t in tallies for ns in t.latencies_ns)
    statuses: dict[str, int] = {}
    for tally in tallies:
        for code, count in tally.statuses.items():
            statuses[str(code)] = statuses.get(str(code), 0) + count
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "windows": _windows(tallies, spec.duration),
        "requests": len(latencies),
        "rps": len(latencies) / spec.duration,
        "p50_ms": _percentile(latencies, 0.50),
        "p90_ms": _percentile(latencies, 0.90),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": latencies[-1] / 1e6 if latencies else float("nan"),
        "mean_ms": (sum(latencies) / len(latencies) / 1e6) if latencies else float("nan"),
        "statuses": statuses,
        "errors": sum(t.errors for t in tallies),
        "empty": sum(t.empty for t in tallies),
        "samples": [s for t in tallies for s in t.samples][:MAX_SAMPLES],
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
    }


def main() -> None:
    spec = Spec.from_json(json.load(sys.stdin))
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(run(spec))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
