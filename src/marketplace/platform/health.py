"""Liveness and readiness probes.

`/healthz` says the process is serving (no dependencies: a slow database must not get healthy
pods killed). `/readyz` checks every configured dependency (database always, Redis and the
broker when configured) with a short timeout, so a load balancer stops routing to a worker
that cannot do its job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from marketplace.platform.errors import PROBLEM_JSON

Check = Callable[[], Awaitable[object]]

CHECK_TIMEOUT_SECONDS = 2.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


async def _run(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return "timeout"
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


def health_router(checks: Mapping[str, Check]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health, summary="Liveness")
    async def healthz() -> Health:
        return Health(status="ok")

    @router.get(
        "/readyz",
        response_model=Readiness,
        summary="Readiness: database, cache and broker reachable",
        responses={503: {"description": "a dependency is unreachable"}},
    )
    async def readyz() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(_run(checks[n]) for n in names))
        report = dict(zip(names, results, strict=True))
        if all(result == "ok" for result in results):
            return JSONResponse({"status": "ready", "checks": report})
        failing = ", ".join(n for n, r in report.items() if r != "ok")
        return JSONResponse(
            {
                "type": "/problems/not_ready",
                "title": "Service not ready",
                "status": 503,
                "detail": f"unreachable: {failing}",
                "code": "not_ready",
                "checks": report,
            },
            status_code=503,
            media_type=PROBLEM_JSON,
        )

    return router
