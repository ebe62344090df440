#!/usr/bin/env python3
"""Developer entry point that needs nothing but Python 3.11+: creates `.venv`, installs the
project into it when `pyproject.toml` changed, and runs a task.

    python3 dev.py run             serve the embedded default (SQLite, demo data) on :8000
    python3 dev.py test [args]     the whole test suite (args go to pytest)
    python3 dev.py lint            ruff, ruff format --check, mypy, import contracts
    python3 dev.py test-services   the suite on PostgreSQL, Redis and RabbitMQ
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")

SERVICE_DEFAULTS = {
    "MARKETPLACE_TEST_POSTGRES_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
    "MARKETPLACE_TEST_REDIS_URL": "redis://127.0.0.1:6379/15",
    "MARKETPLACE_TEST_RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/",
}


def sh(*args: str | Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_installed() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"Python 3.11 or newer is required (this is {sys.version.split()[0]})")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{digest}"
    if stamp.exists():
        return
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("installing marketplace and its dependencies into .venv", flush=True)
    sh(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    sh(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def run() -> None:
    sh(BIN / "marketplace", "migrate")
    sh(BIN / "marketplace", "seed-demo")
    print("serving on http://127.0.0.1:8000 (API docs at /docs)", flush=True)
    os.execv(BIN / "marketplace", [str(BIN / "marketplace"), "serve", *sys.argv[2:]])


def run_tests(extra: list[str], env: dict[str, str] | None = None) -> None:
    sh(BIN / "python", "-m", "pytest", "-n", "auto", "-q", *extra, env=env)


def lint() -> None:
    sh(BIN / "ruff", "check", "src", "tests", "bench", "dev.py")
    sh(BIN / "ruff", "format", "--check", "src", "tests", "bench", "dev.py")
    sh(BIN / "mypy")
    sh(BIN / "lint-imports")


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "help"
    if task not in {"run", "test", "lint", "test-services"}:
        sys.exit(__doc__)
    ensure_installed()
    if task == "run":
        run()
    elif task == "test":
        run_tests(sys.argv[2:])
    elif task == "lint":
        lint()
    else:
        env = {**os.environ}
        for name, default in SERVICE_DEFAULTS.items():
            env.setdefault(name, default)
        run_tests(sys.argv[2:], env=env)


if __name__ == "__main__":
    main()
