"""The `marketplace` command: migrate, seed-demo and a real `serve` on the embedded default."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from marketplace.cli import cli
from marketplace.migrations.metadata import target_metadata


@pytest.fixture
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("MARKETPLACE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def test_migrate_creates_the_embedded_database(embedded_env: Path) -> None:
    result = CliRunner().invoke(cli, ["migrate"])

    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
    engine = create_engine(f"sqlite:///{embedded_env / 'marketplace.db'}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(target_metadata.tables) <= tables


def test_seed_demo_runs_on_a_fresh_data_dir(embedded_env: Path) -> None:
    result = CliRunner().invoke(cli, ["seed-demo"])

    again = CliRunner().invoke(cli, ["seed-demo"])

    assert result.exit_code == 0, result.output
    assert result.output == "demo data: identity, vendors\n"
    assert again.exit_code == 0, again.output
    engine = create_engine(f"sqlite:///{embedded_env / 'marketplace.db'}")
    try:
        with engine.connect() as conn:
            roles = conn.exec_driver_sql(
                "SELECT platform_role, count(*) FROM identity_user GROUP BY platform_role"
                " ORDER BY platform_role"
            ).all()
            vendors = conn.exec_driver_sql(
                "SELECT slug, status, kyc_status FROM vendors_vendor ORDER BY slug"
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in roles] == [(None, 6), ("admin", 1), ("support", 1)]
    assert [tuple(v) for v in vendors] == [
        ("brooklyn-roasters", "approved", "verified"),
        ("kyoto-ceramics", "approved", "verified"),
        ("nordic-knits", "approved", "verified"),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(embedded_env: Path) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace", "serve", "--port", str(port)],
        env={**os.environ, "MARKETPLACE_DATA_DIR": str(embedded_env)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"serve exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("serve did not answer /healthz")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serve_answers_on_the_embedded_default(served: str) -> None:
    with httpx.Client(base_url=served, timeout=5) as client:
        ready = client.get("/readyz")
        docs = client.get("/docs")
        missing = client.get("/v1/does-not-exist")
        metrics = client.get("/metrics")

    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    assert 'route="/readyz"' in metrics.text


def test_create_admin_creates_then_promotes_and_the_admin_can_log_in(embedded_env: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli, ["create-admin", "--email", "Root@Example.com", "--password", "a long admin secret"]
    )
    again = runner.invoke(
        cli, ["create-admin", "--email", "root@example.com", "--password", "a long admin secret"]
    )
    weak = runner.invoke(cli, ["create-admin", "--email", "x@example.com", "--password", "short"])

    assert created.exit_code == 0, created.output
    assert created.output.startswith("root@example.com created (usr_")
    assert again.exit_code == 0, again.output
    assert "promoted to admin" in again.output
    assert weak.exit_code == 1
    assert "password must be at least 10 characters" in weak.output
    engine = create_engine(f"sqlite:///{embedded_env / 'marketplace.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT email, platform_role FROM identity_user ORDER BY email"
            ).all()
            audit = conn.exec_driver_sql(
                "SELECT action FROM compliance_audit_log ORDER BY seq"
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("root@example.com", "admin")]
    assert [a[0] for a in audit] == ["user.admin_created", "user.promoted"]


def test_rotate_encryption_keys_rewraps_every_encrypted_column(
    embedded_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from marketplace.platform.crypto import Keyring

    runner = CliRunner()
    assert runner.invoke(cli, ["seed-demo"]).exit_code == 0
    old_key = Keyring.derived("dev-insecure-change-me").key("dev")
    keys = {
        "dev": base64.b64encode(old_key).decode(),
        "k2026": base64.b64encode(b"n" * 32).decode(),
    }
    monkeypatch.setenv("MARKETPLACE_ENCRYPTION_KEYS", json.dumps(keys))
    monkeypatch.setenv("MARKETPLACE_ENCRYPTION_CURRENT_KEY", "k2026")

    result = runner.invoke(cli, ["rotate-encryption-keys"])
    again = runner.invoke(cli, ["rotate-encryption-keys"])

    assert result.exit_code == 0, result.output
    assert result.output == (
        "identity_user.phone_encrypted: 0 re-wrapped\n"
        "vendors_vendor.tax_id_encrypted: 2 re-wrapped\n"
        "vendors_payout_account.details_encrypted: 3 re-wrapped\n"
        "notifications_webhook_endpoint.secret_encrypted: 0 re-wrapped\n"
    )
    assert again.output.count(": 0 re-wrapped") == 4
    engine = create_engine(f"sqlite:///{embedded_env / 'marketplace.db'}")
    try:
        with engine.connect() as conn:
            tokens = [
                row[0]
                for row in conn.exec_driver_sql(
                    "SELECT details_encrypted FROM vendors_payout_account"
                ).all()
            ]
    finally:
        engine.dispose()
    assert len(tokens) == 3
    assert all(token.startswith("v1.k2026.") for token in tokens)


def test_worker_runs_at_the_configured_niceness_and_stops_on_sigterm(embedded_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace", "worker"],
        env={
            **os.environ,
            "MARKETPLACE_DATA_DIR": str(embedded_env),
            "MARKETPLACE_WORKER_NICE": "7",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output = b""
        assert process.stdout is not None
        for _ in range(200):
            line = process.stdout.readline()
            output += line
            if b"worker started" in line or not line:
                break
        assert b"worker started" in output, output.decode()
        assert (
            os.getpriority(os.PRIO_PROCESS, process.pid) - os.getpriority(os.PRIO_PROCESS, 0) == 7
        )
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
