"""Root settings: the process configuration read from `MARKETPLACE_*` environment variables.

Unset service URLs mean the in-process implementation (SQLite file, memory cache, in-process
job broker), so `marketplace serve` runs with no other service.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MARKETPLACE_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default a SQLite file in data_dir"
    )
    database_pool_size: int = 10
    database_max_overflow: int = 10
    redis_url: str | None = None
    broker_url: str | None = Field(
        default=None,
        description="amqp://... (RabbitMQ) or redis://... (Redis Streams); unset: in-process",
    )
    broker_queue: str = Field(
        default="marketplace.deliveries",
        description="queue (RabbitMQ) or stream (Redis) name; distinct per deployment",
    )
    run_jobs_in_process: bool | None = Field(
        default=None,
        description="Run the outbox relay, scheduler and job deliveries inside `serve`; "
        "default: only when no broker is configured",
    )
    log_level: str = "INFO"
    log_json: bool = True
    sentry_dsn: SecretStr | None = None
    release: str | None = None
    secret_key: SecretStr = SecretStr("dev-insecure-change-me")
    idempotency_ttl_hours: int = 24
    idempotency_lock_seconds: int = 60
    relay_interval_seconds: float = 0.5
    job_max_attempts: int = 8
    cors_origins: list[str] = []

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'marketplace.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def jobs_in_process(self) -> bool:
        if self.run_jobs_in_process is not None:
            return self.run_jobs_in_process
        return self.broker_url is None
