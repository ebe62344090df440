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
    marketplace_name: str = Field(
        default="Marketplace", description="the name printed on receipts and statements"
    )
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default a SQLite file in data_dir"
    )
    # A request holds one connection at a time, so a process needs about as many connections
    # as it serves requests at once. With fewer, requests queue on the pool mid-checkout, and
    # the pool's queue is not fair (a request that just gave a connection back can take one
    # ahead of those waiting): with 32 customers on a pool of 20, p99 was 2.3 x the median,
    # on a pool of 40, 1.3 x. Lower these where many processes share one PostgreSQL.
    database_pool_size: int = 20
    database_max_overflow: int = 20
    request_concurrency: int | None = Field(
        default=None,
        ge=0,
        description="requests a serving process works on at once; the others wait in line, "
        "first come first served (see platform.admission); default 4 per CPU core, 0: no limit",
    )
    request_queue_seconds: float = Field(
        default=10.0,
        gt=0,
        description="longest a request waits in line before it is answered 503 overloaded",
    )
    job_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="deliveries one process runs at once; default: half the database pool "
        "(size + overflow), so requests served beside in-process jobs keep connections",
    )
    # 10 by default: in the checkout benchmark (API and worker on one 2-core host) the worker
    # at 10 did the same work in the same CPU as at 0 and kept up with the urgent deliveries,
    # while p99 fell from 322 to 281 ms: the API's requests no longer wait behind the worker's
    # passes. On a host of its own the worker competes with nobody and niceness changes nothing.
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU niceness a `marketplace worker` process adds to itself: on a host it "
        "shares with API servers, background work yields the CPU to requests (checkouts in a "
        "flash sale) and catches up when they slow down; 0 keeps equal priority",
    )
    # A worker issuing a sale's documents was bound to one core, its handlers and fpdf2's
    # Python taking turns on the interpreter's lock (docs/benchmarks.md, tenth session).
    document_render_processes: int | None = Field(
        default=None,
        ge=0,
        description="processes of its own a `marketplace worker` renders receipts and "
        "statements in; default: 1 on a host with two cores or more, else 0. 0 renders on "
        "threads of the process (always so in `serve`)",
    )
    job_burst_messages_per_second: float = Field(
        default=100.0,
        ge=0,
        description="outbox messages per second (about eight per checkout) from which the "
        "marketplace is in a burst: deferrable follow-ups (receipts, statements, order "
        "e-mails) wait until it is over, so checkouts keep the CPU; 0: never defer",
    )
    job_burst_cooldown_seconds: float = Field(
        default=10.0, gt=0, description="seconds below the burst rate before held work runs"
    )
    job_max_deferral_seconds: float = Field(
        default=900.0,
        gt=0,
        description="seconds a deferrable delivery waits at most, however long a burst lasts",
    )
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
    # Between relay passes when nothing nudges the relay (a worker in its own process). Each
    # pass kicks what the checkouts of the interval wrote, together: at 0.5 s those bursts
    # of webhooks set a sale's p99 (240 ms against 219 at 0.2 s, docs/benchmarks.md).
    relay_interval_seconds: float = 0.2
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
    # Gateway credentials: each provider named in payment_providers needs all of its own.
    stripe_secret_key: SecretStr | None = Field(default=None, description="sk_live_… / sk_test_…")
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="whsec_… of the webhook endpoint (Stripe-Signature)"
    )
    paypal_client_id: str | None = None
    paypal_client_secret: SecretStr | None = None
    paypal_webhook_id: str | None = Field(
        default=None, description="id of the webhook PayPal delivers to (signature checks)"
    )
    paypal_environment: Literal["sandbox", "production"] = "sandbox"
    razorpay_key_id: str | None = Field(default=None, description="rzp_live_… / rzp_test_…")
    razorpay_key_secret: SecretStr | None = None
    razorpay_webhook_secret: SecretStr | None = None

    shipping_carriers: list[Literal["manual", "easypost", "dhl", "fedex"]] = Field(
        default=["manual"],
        description="enabled carrier adapters; `manual` (vendors enter updates) is always on",
    )
    shipping_easypost_api_key: SecretStr | None = None
    shipping_easypost_webhook_secret: SecretStr | None = Field(
        default=None, description="the secret EasyPost signs tracker webhooks with"
    )
    shipping_easypost_api_base: str = "https://api.easypost.com/v2"
    shipping_dhl_api_key: SecretStr | None = None
    shipping_dhl_base_url: str = "https://api-eu.dhl.com"
    shipping_fedex_client_id: str | None = None
    shipping_fedex_client_secret: SecretStr | None = None
    shipping_fedex_base_url: str = Field(
        default="https://apis.fedex.com", description="sandbox: https://apis-sandbox.fedex.com"
    )
    shipping_poll_interval_minutes: int = Field(
        default=60, ge=1, description="how often a polled carrier is asked while there is news"
    )
    shipping_max_poll_interval_hours: int = Field(
        default=24, ge=1, description="the longest back-off between polls of a quiet parcel"
    )

    public_base_url: str = Field(
        default="http://localhost:8000",
        description="where clients reach this API; links in emails (unsubscribe) start here",
    )
    notifications_smtp_host: str | None = Field(
        default=None, description="SMTP server or relay; unset: emails go to data_dir/outbox"
    )
    notifications_smtp_port: int = 587
    notifications_smtp_username: str | None = None
    notifications_smtp_password: SecretStr | None = None
    notifications_smtp_tls: bool = Field(default=False, description="implicit TLS (port 465)")
    notifications_smtp_starttls: bool | None = Field(
        default=None, description="STARTTLS; unset: when the server offers it"
    )
    notifications_email_from: str = "no-reply@marketplace.local"
    notifications_email_from_name: str = "Marketplace"
    notifications_sms_enabled: bool = Field(default=False, description="send SMS via Twilio")
    notifications_twilio_account_sid: str | None = None
    notifications_twilio_auth_token: SecretStr | None = None
    notifications_twilio_from_number: str | None = None
    notifications_twilio_messaging_service_sid: str | None = None
    notifications_twilio_api_base_url: str | None = Field(
        default=None, description="replaces https://api.twilio.com (an egress proxy)"
    )
    notifications_max_attempts: int = Field(
        default=6, ge=1, description="send attempts before a delivery is dead"
    )
    notifications_admin_emails: list[str] = Field(
        default_factory=list, description="who hears of operations alerts (reconciliation)"
    )
    notifications_unsubscribe_secret: SecretStr | None = Field(
        default=None, description="signs unsubscribe links; unset: derived from secret_key"
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
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

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

    def shipping_problems(self) -> list[str]:
        """Enabled carriers without the credentials they need: refuse to start."""
        needs = {
            "easypost": (self.shipping_easypost_api_key, self.shipping_easypost_webhook_secret),
            "dhl": (self.shipping_dhl_api_key,),
            "fedex": (self.shipping_fedex_client_id, self.shipping_fedex_client_secret),
        }
        return [
            f"MARKETPLACE_SHIPPING_CARRIERS enables {name} without its credentials"
            for name in self.shipping_carriers
            if any(value is None for value in needs.get(name, ()))
        ]

    def production_problems(self) -> list[str]:
        """What must be configured before this may run in production."""
        problems = []
        if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            problems.append("MARKETPLACE_SECRET_KEY is the development default")
        if not self.jwt_signing_keys:
            problems.append("MARKETPLACE_JWT_SIGNING_KEYS is not set")
        if not self.encryption_keys:
            problems.append("MARKETPLACE_ENCRYPTION_KEYS is not set")
        if self.notifications_sms_enabled and not (
            self.notifications_twilio_account_sid and self.notifications_twilio_auth_token
        ):
            problems.append("MARKETPLACE_NOTIFICATIONS_SMS_ENABLED without Twilio credentials")
        if "sandbox" in self.payment_providers:
            # The sandbox "charges" test cards and moves no money: a real shop must not take
            # orders through it.
            problems.append("MARKETPLACE_PAYMENT_PROVIDERS enables the sandbox provider")
        problems.extend(self.payment_provider_problems(production=True))
        return problems

    def payment_provider_problems(self, *, production: bool = False) -> list[str]:
        """Enabled gateways without their credentials (refused in every environment), and,
        for production, gateways in test mode (they take orders and move no money)."""
        required: dict[str, tuple[tuple[str, object], ...]] = {
            "stripe": (
                ("MARKETPLACE_STRIPE_SECRET_KEY", self.stripe_secret_key),
                ("MARKETPLACE_STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret),
            ),
            "paypal": (
                ("MARKETPLACE_PAYPAL_CLIENT_ID", self.paypal_client_id),
                ("MARKETPLACE_PAYPAL_CLIENT_SECRET", self.paypal_client_secret),
                ("MARKETPLACE_PAYPAL_WEBHOOK_ID", self.paypal_webhook_id),
            ),
            "razorpay": (
                ("MARKETPLACE_RAZORPAY_KEY_ID", self.razorpay_key_id),
                ("MARKETPLACE_RAZORPAY_KEY_SECRET", self.razorpay_key_secret),
                ("MARKETPLACE_RAZORPAY_WEBHOOK_SECRET", self.razorpay_webhook_secret),
            ),
        }
        problems = []
        for provider, settings in required.items():
            if provider not in self.payment_providers:
                continue
            for variable, value in settings:
                text = value.get_secret_value() if isinstance(value, SecretStr) else value
                if not text:
                    problems.append(f"{variable} is not set ({provider} is enabled)")
        if not production:
            return problems
        stripe_key = self.stripe_secret_key.get_secret_value() if self.stripe_secret_key else ""
        if "stripe" in self.payment_providers and stripe_key.startswith(("sk_test_", "rk_test_")):
            problems.append("MARKETPLACE_STRIPE_SECRET_KEY is a test-mode key")
        if "paypal" in self.payment_providers and self.paypal_environment != "production":
            problems.append("MARKETPLACE_PAYPAL_ENVIRONMENT is not production")
        if "razorpay" in self.payment_providers and (self.razorpay_key_id or "").startswith(
            "rzp_test_"
        ):
            problems.append("MARKETPLACE_RAZORPAY_KEY_ID is a test-mode key")
        return problems

    @property
    def jobs_in_process(self) -> bool:
        if self.run_jobs_in_process is not None:
            return self.run_jobs_in_process
        return self.broker_url is None
