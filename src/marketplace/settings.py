"""Root settings: the process configuration read from `MARKETPLACE_*` environment variables.

Unset service URLs mean the in-process implementation (SQLite file, memory cache, in-process
job broker), so `marketplace serve` runs with no other service.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-insecure-change-me"


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
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET_KEY),
        description="root secret; development keys are derived from it when none are set",
    )
    jwt_signing_keys: dict[str, SecretStr] = Field(
        default={}, description='{"kid": "secret of 32+ bytes"}; JSON in the environment'
    )
    jwt_current_key: str | None = None
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_days: int = 30
    encryption_keys: dict[str, SecretStr] = Field(
        default={}, description='{"kid": "base64 of 32 random bytes"}: field encryption keyring'
    )
    encryption_current_key: str | None = None
    password_hash_memory_kib: int = 19 * 1024
    password_hash_time_cost: int = 2
    idempotency_ttl_hours: int = 24
    idempotency_lock_seconds: int = 60
    relay_interval_seconds: float = 0.5
    # Public catalog reads (browse, search, product pages) are served from a cache that every
    # committed catalog write invalidates at once; entries also expire after this long, which
    # bounds staleness between processes that share no Redis. 0 turns the cache off.
    # Sales tax (or VAT) charged at checkout by destination country, in basis points
    # (e.g. {"DE": 1900}); countries not listed are charged none. A tax engine can replace it.
    tax_rates: dict[str, int] = Field(default_factory=dict)
    read_cache_seconds: int = Field(default=60, ge=0)
    read_cache_entries: int = Field(default=5000, ge=1, description="in-process bodies kept")
    job_max_attempts: int = 8
    cors_origins: list[str] = []
    storage_backend: Literal["local", "s3"] = Field(
        default="local", description="local: files under data_dir/media, served at media_url"
    )
    media_url: str = Field(
        default="/media", description="public URL prefix of the local backend's files"
    )
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_endpoint_url: str | None = Field(
        default=None, description="for MinIO, GCS interop, R2...; unset: AWS S3"
    )
    s3_access_key_id: str | None = Field(
        default=None, description="unset: boto3's default credential chain"
    )
    s3_secret_access_key: SecretStr | None = None
    s3_public_base_url: str | None = Field(
        default=None, description="URL prefix objects are served at (a CDN); unset: the bucket"
    )

    payment_providers: list[str] = Field(
        default=["sandbox"],
        description="enabled payment providers; `sandbox` is a test stand-in that moves no money",
    )
    payments_sandbox_webhook_secret: SecretStr | None = Field(
        default=None, description="signs the sandbox's webhooks; unset: derived from secret_key"
    )
    payments_hold_days: float = Field(
        default=7, ge=0, description="days after delivery before a vendor's earnings are available"
    )
    payments_webhook_tolerance_seconds: int = Field(
        default=300, ge=1, description="how old a signed webhook may be"
    )
    payments_chargeback_reverses_commission: bool = Field(
        default=True,
        description="a chargeback gives the platform's commission back like a refund; "
        "false: the vendor bears the commission too",
    )

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'marketplace.db').resolve()}"

    @property
    def media_root(self) -> Path:
        return self.data_dir / "media"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @field_validator("tax_rates")
    @classmethod
    def _tax_rates_are_rates(cls, rates: dict[str, int]) -> dict[str, int]:
        """A typo here charges every customer of a country the wrong tax: refuse to start."""
        for country, bps in rates.items():
            if len(country) != 2 or not country.isalpha() or not country.isupper():
                raise ValueError(f"tax_rates: {country!r} is not an ISO 3166-1 alpha-2 code")
            if not 0 <= bps <= 10_000:
                raise ValueError(f"tax_rates[{country}]: {bps} bps is not between 0 and 10000")
        return rates

    def production_problems(self) -> list[str]:
        """What must be configured before this may run in production."""
        problems = []
        if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            problems.append("MARKETPLACE_SECRET_KEY is the development default")
        if not self.jwt_signing_keys:
            problems.append("MARKETPLACE_JWT_SIGNING_KEYS is not set")
        if not self.encryption_keys:
            problems.append("MARKETPLACE_ENCRYPTION_KEYS is not set")
        if "sandbox" in self.payment_providers:
            # The sandbox "charges" test cards and moves no money: a real shop must not take
            # orders through it.
            problems.append("MARKETPLACE_PAYMENT_PROVIDERS enables the sandbox provider")
        return problems

    @property
    def jobs_in_process(self) -> bool:
        if self.run_jobs_in_process is not None:
            return self.run_jobs_in_process
        return self.broker_url is None
