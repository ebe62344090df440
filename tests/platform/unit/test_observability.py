"""Tests for marketplace.platform.observability: request ids, metrics, JSON logs, redaction."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
import structlog
from fastapi import APIRouter, FastAPI, Request
from prometheus_client import REGISTRY

from marketplace.platform import observability
from marketplace.platform.observability import (
    RequestContextMiddleware,
    configure_logging,
    get_request_id,
    init_sentry,
    mark_process_dead,
    metrics_response,
    redact_value,
)

API_KEY = "mk_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
CARD = "4242 4242 4242 4242"  # Luhn-valid (Stripe's test card)
ORDER_NUMBER = "1234567812345678"  # 16 digits, Luhn-invalid: must survive redaction
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlLXZhbHVl"
_ROUTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "taskiq", "sqlalchemy")


@pytest.fixture(autouse=True)
def _isolate_logging() -> Iterator[None]:
    root = logging.getLogger()
    root_level = root.level
    routed = {
        name: (list(lg.handlers), lg.propagate, lg.level)
        for name, lg in ((n, logging.getLogger(n)) for n in _ROUTED)
    }
    yield
    # Remove only what configure_logging installed: pytest swaps its own handlers per phase.
    for handler in list(root.handlers):
        if isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter):
            root.removeHandler(handler)
    root.setLevel(root_level)
    for name, (handlers, propagate, level) in routed.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.propagate = propagate
        lg.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def _build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: str, request: Request) -> dict[str, Any]:
        structlog.get_logger("test.handler").info("loading item", item_id=item_id)
        return {
            "item_id": item_id,
            "state_request_id": request.state.request_id,
            "context_request_id": get_request_id(),
        }

    router = APIRouter(prefix="/v1")

    @router.get("/products/{pid}")
    async def get_product(pid: int) -> dict[str, int]:
        return {"pid": pid}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    app.include_router(router)
    app.add_middleware(RequestContextMiddleware)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def _requests_total(route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- request id -------------------------------------------------------------------------------


async def test_valid_request_id_is_echoed_and_bound(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/1", headers={"X-Request-ID": "abc-123_x.y"})

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "abc-123_x.y"
    body = response.json()
    assert body["state_request_id"] == "abc-123_x.y"
    assert body["context_request_id"] == "abc-123_x.y"
    assert get_request_id() is None  # reset once the request is over


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Request-ID": "has spaces"}, {"X-Request-ID": "x" * 129}, {"X-Request-ID": "a/b"}],
)
async def test_missing_or_invalid_request_id_is_generated(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/items/1", headers=headers)

    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert response.json()["state_request_id"] == generated


async def test_outer_structlog_context_survives_request(client: httpx.AsyncClient) -> None:
    structlog.contextvars.bind_contextvars(test_marker="kept")

    await client.get("/items/1")

    assert structlog.contextvars.get_contextvars() == {"test_marker": "kept"}


# --- metrics ----------------------------------------------------------------------------------


async def test_counter_uses_route_template(client: httpx.AsyncClient) -> None:
    before = _requests_total("/items/{item_id}", "200")

    await client.get("/items/first")
    await client.get("/items/second")

    assert _requests_total("/items/{item_id}", "200") - before == 2
    assert REGISTRY.get_sample_value(
        "http_requests_total", {"method": "GET", "route": "/items/first", "status": "200"}
    ) in (None, 0.0)


async def test_included_router_route_keeps_prefix(client: httpx.AsyncClient) -> None:
    before = _requests_total("/v1/products/{pid}", "200")
    before_count = (
        REGISTRY.get_sample_value(
            "http_request_duration_seconds_count", {"method": "GET", "route": "/v1/products/{pid}"}
        )
        or 0.0
    )

    await client.get("/v1/products/7")

    assert _requests_total("/v1/products/{pid}", "200") - before == 1
    after_count = REGISTRY.get_sample_value(
        "http_request_duration_seconds_count", {"method": "GET", "route": "/v1/products/{pid}"}
    )
    assert after_count is not None
    assert after_count - before_count == 1


async def test_not_found_is_labelled_unmatched(client: httpx.AsyncClient) -> None:
    before = _requests_total("unmatched", "404")

    response = await client.get("/no/such/path/12345")

    assert response.status_code == 404
    assert "X-Request-ID" in response.headers
    assert _requests_total("unmatched", "404") - before == 1


async def test_unknown_method_is_bucketed(client: httpx.AsyncClient) -> None:
    before = _requests_total("/items/{item_id}", "405", method="OTHER")

    await client.request("BREW", "/items/1")

    assert _requests_total("/items/{item_id}", "405", method="OTHER") - before == 1


async def test_in_progress_gauge_returns_to_previous_value(client: httpx.AsyncClient) -> None:
    before = REGISTRY.get_sample_value("http_requests_in_progress", {"method": "GET"}) or 0.0

    await client.get("/items/1")

    assert REGISTRY.get_sample_value("http_requests_in_progress", {"method": "GET"}) == before


async def test_metrics_response_exposes_http_metrics(client: httpx.AsyncClient) -> None:
    await client.get("/items/1")

    response = metrics_response()

    assert response.status_code == 200
    assert response.media_type is not None
    assert response.media_type.startswith("text/plain")
    assert b"http_requests_total" in response.body
    assert b"# TYPE job_deliveries_total counter" in response.body


def test_metrics_response_multiprocess_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    dead_worker_file = tmp_path / "gauge_livesum_4242.db"
    dead_worker_file.write_bytes(b"")

    mark_process_dead(4242)
    response = metrics_response()

    assert not dead_worker_file.exists()
    assert response.status_code == 200
    # Read from the (empty) multiprocess dir, not this process's default registry.
    assert b"http_requests_total" not in response.body


def test_record_job_delivery_counts_and_validates() -> None:
    labels = {"handler": "test.handler", "outcome": "dead"}
    before = REGISTRY.get_sample_value("job_deliveries_total", labels) or 0.0

    observability.record_job_delivery("test.handler", "dead")

    assert REGISTRY.get_sample_value("job_deliveries_total", labels) == before + 1
    with pytest.raises(ValueError, match="unknown job outcome"):
        observability.record_job_delivery("test.handler", "exploded")  # type: ignore[arg-type]


async def test_unhandled_error_counted_as_500_and_logged_with_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json=True)
    before = _requests_total("/boom", "500")
    transport = httpx.ASGITransport(app=_build_app(), raise_app_exceptions=False)

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        response = await c.get("/boom", headers={"X-Request-ID": "req-boom"})

    assert response.status_code == 500
    assert _requests_total("/boom", "500") - before == 1
    access = next(
        line for line in _json_lines(capsys.readouterr().out) if line["event"] == "http_request"
    )
    assert access["level"] == "error"
    assert access["request_id"] == "req-boom"
    assert "kaboom" in access["exception"]


# --- logging ----------------------------------------------------------------------------------


async def test_json_log_lines_carry_request_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="INFO", json=True)

    await client.get("/items/42", headers={"X-Request-ID": "req-json-1"})

    lines = _json_lines(capsys.readouterr().out)
    handler_line = next(line for line in lines if line["event"] == "loading item")
    access_line = next(line for line in lines if line["event"] == "http_request")
    for line in (handler_line, access_line):
        assert line["request_id"] == "req-json-1"
        assert line["level"] == "info"
        assert line["timestamp"].endswith("Z")
        assert "logger" in line
    assert handler_line["item_id"] == "42"
    assert access_line["method"] == "GET"
    assert access_line["path"] == "/items/42"
    assert access_line["route"] == "/items/{item_id}"
    assert access_line["status"] == 200
    assert isinstance(access_line["duration_ms"], float)


def test_stdlib_logs_are_rendered_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)

    logging.getLogger("uvicorn.error").warning("worker %s started", 3, extra={"port": 8000})

    [line] = _json_lines(capsys.readouterr().out)
    assert line["event"] == "worker 3 started"
    assert line["logger"] == "uvicorn.error"
    assert line["level"] == "warning"
    assert line["port"] == 8000


def test_configure_logging_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    configure_logging(json=True)

    structlog.get_logger("test.idempotent").info("once")

    assert len(_json_lines(capsys.readouterr().out)) == 1
    ours = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    ]
    assert len(ours) == 1


def test_level_filters_and_console_mode(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="WARNING", json=False)
    log = structlog.get_logger("test.console")

    log.info("hidden")
    log.warning("shown", password="hunter2")

    out = capsys.readouterr().out
    assert "hidden" not in out
    assert "shown" in out
    assert "hunter2" not in out


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="CHATTY")


def test_redaction_in_structlog_output(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)

    structlog.get_logger("test.redaction").info(
        f"charge Authorization: Bearer abc.def.ghi key {API_KEY} card {CARD} order {ORDER_NUMBER}",
        password="hunter2",
        payload={"customer": {"Access-Token": "tok-nested-value", "name": "Ada"}},
        items=[{"api_key": "plain-key-value"}],
        note=f"jwt {JWT}",
    )

    out = capsys.readouterr().out
    [line] = _json_lines(out)
    # The timestamp's digits are the clock's, not the card's: "…:52.454242Z" once failed this.
    logged = json.dumps({k: v for k, v in line.items() if k != "timestamp"})
    for secret in (
        "hunter2",
        "tok-nested-value",
        "plain-key-value",
        "abc.def.ghi",
        API_KEY,
        CARD,
        "4242",
        JWT,
    ):
        assert secret not in logged
    assert ORDER_NUMBER in line["event"]
    assert line["password"] == "[REDACTED]"
    assert line["payload"]["customer"] == {"Access-Token": "[REDACTED]", "name": "Ada"}
    assert line["note"] == "jwt [REDACTED]"


def test_redaction_in_stdlib_messages(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)

    logging.getLogger("taskiq.worker").info(
        "retrying with %s and card %s", "Bearer abc.def.ghi", "4242-4242-4242-4242"
    )

    out = capsys.readouterr().out
    [line] = _json_lines(out)
    logged = json.dumps({k: v for k, v in line.items() if k != "timestamp"})
    assert "abc.def.ghi" not in logged
    assert "4242" not in logged
    assert line["logger"] == "taskiq.worker"


def test_redaction_covers_exception_text(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)

    try:
        raise RuntimeError(f"upstream rejected {API_KEY}")
    except RuntimeError:
        structlog.get_logger("test.exc").exception("call failed")

    out = capsys.readouterr().out
    assert API_KEY not in out
    assert "RuntimeError" in _json_lines(out)[0]["exception"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Bearer abc.def.ghi", "Bearer [REDACTED]"),
        ("authorization: bearer ZXhhbXBsZS10b2tlbg==", "authorization: bearer [REDACTED]"),
        (f"key={API_KEY}&x=1", "key=[REDACTED]&x=1"),
        ("mk_short", "mk_short"),
        (JWT, "[REDACTED]"),
        ("pan 4111111111111111.", "pan [REDACTED]."),
        ("pan 4242-4242-4242-4242 ok", "pan [REDACTED] ok"),
        (f"order {ORDER_NUMBER} card {CARD}", f"order {ORDER_NUMBER} card [REDACTED]"),
        (f"{ORDER_NUMBER} 4242424242424242", f"{ORDER_NUMBER} [REDACTED]"),
        ("call +1 555 0100 at 2024-05-01", "call +1 555 0100 at 2024-05-01"),
        ("12345678901234567890123", "12345678901234567890123"),
    ],
)
def test_redact_value(raw: str, expected: str) -> None:
    assert redact_value(raw) == expected


# --- sentry -----------------------------------------------------------------------------------


def _forbid_sentry_init(**_kwargs: Any) -> None:
    raise AssertionError("sentry_sdk.init must not be called without a DSN")


@pytest.mark.parametrize("dsn", [None, ""])
def test_init_sentry_without_dsn_is_noop(monkeypatch: pytest.MonkeyPatch, dsn: str | None) -> None:
    monkeypatch.setattr(sentry_sdk, "init", _forbid_sentry_init)

    assert init_sentry(dsn, environment="test", release=None) is False


def test_init_sentry_configures_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    captured: dict[str, Any] = {}
    monkeypatch.setattr(sentry_sdk, "init", lambda **kwargs: captured.update(kwargs))

    assert init_sentry("https://key@example.invalid/1", environment="test", release="1.2.3")

    assert captured["send_default_pii"] is False
    assert captured["traces_sample_rate"] == 0
    assert captured["environment"] == "test"
    assert captured["release"] == "1.2.3"
    event: dict[str, Any] = {
        "request": {
            "headers": {"Authorization": "Bearer abc.def.ghi", "Accept": "application/json"},
            "data": {"card_number": CARD, "note": f"card {CARD}", "qty": 2},
            "query_string": "access_token=abc123&page=2",
        },
        "extra": {"secret": "s3cr3t", "detail": {"password": "hunter2"}},
        "exception": {"values": [{"type": "ValueError", "value": f"bad key {API_KEY}"}]},
    }
    result = captured["before_send"](event, {})
    text = json.dumps(result)
    for secret in ("abc.def.ghi", "4242", "s3cr3t", "hunter2", "abc123", API_KEY):
        assert secret not in text
    assert result["request"]["headers"]["Accept"] == "application/json"
    assert result["request"]["data"]["qty"] == 2
    assert "page=2" in result["request"]["query_string"]
