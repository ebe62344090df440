"""Composition root: builds the process's parts for its deployment shape.

Settings decide the implementations (SQLite or PostgreSQL, memory cache or Redis, in-process
or RabbitMQ/Redis Streams broker); the enabled bounded contexts contribute routers, event
handlers, jobs and demo data. Nothing else in the code base chooses an implementation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import APIRouter
from pydantic import SecretStr
from sqlalchemy import Table

from marketplace.catalog import handlers as catalog_handlers
from marketplace.catalog import public as catalog
from marketplace.catalog.api import router as catalog_router
from marketplace.catalog.api.product import read_key as catalog_read_key
from marketplace.catalog.service import images as catalog_images
from marketplace.compliance.api import router as compliance_router
from marketplace.identity import seed as identity_seed
from marketplace.identity.api import router as identity_router
from marketplace.identity.models import User
from marketplace.identity.passwords import HashParameters
from marketplace.identity.public import idempotency_scope_resolver
from marketplace.identity.runtime import IdentityConfig, IdentityRuntime
from marketplace.identity.tokens import SigningKeys
from marketplace.inventory import handlers as inventory_handlers
from marketplace.inventory.api import router as inventory_router
from marketplace.notifications import handlers as notifications_handlers
from marketplace.notifications.api import router as notifications_router
from marketplace.notifications.channels import (
    NotificationRuntime,
    OutboxFolderMailer,
    SmtpMailer,
    TwilioSms,
    WebhookSender,
    bind_runtime,
)
from marketplace.notifications.channels.email import Mailer
from marketplace.notifications.channels.sms import LogSms, SmsSender
from marketplace.notifications.models import WebhookEndpoint
from marketplace.orders import handlers as orders_handlers
from marketplace.orders.api import router as orders_router
from marketplace.orders.service import receipts as orders_receipts
from marketplace.orders.service.rendering import Renderer
from marketplace.payments import handlers as payments_handlers
from marketplace.payments.api import router as payments_router
from marketplace.payments.providers import Gateways, PaymentProvider, bind_gateways
from marketplace.payments.providers.paypal import PayPalProvider
from marketplace.payments.providers.razorpay import RazorpayProvider
from marketplace.payments.providers.sandbox import SandboxProvider
from marketplace.payments.providers.stripe import StripeProvider
from marketplace.platform import maintenance
from marketplace.platform.burst import BurstPolicy
from marketplace.platform.cache import Cache, MemoryCache, build_cache
from marketplace.platform.crypto import FieldCipher, Keyring
from marketplace.platform.db import Database
from marketplace.platform.http import ScopeResolver
from marketplace.platform.idempotency import IdempotencyStore
from marketplace.platform.messaging import Registry
from marketplace.platform.readcache import ReadCache, ReadKey
from marketplace.platform.storage import Storage, build_storage
from marketplace.platform.uow import UnitOfWorkFactory
from marketplace.platform.worker import JobRuntime
from marketplace.settings import Settings
from marketplace.shipping import handlers as shipping_handlers
from marketplace.shipping.api import router as shipping_router
from marketplace.shipping.carriers import Carriers, bind_carriers
from marketplace.shipping.carriers.dhl import DhlAdapter
from marketplace.shipping.carriers.easypost import EasyPostAdapter
from marketplace.shipping.carriers.fedex import FedexAdapter
from marketplace.shipping.domain.adapter import CarrierAdapter
from marketplace.vendors import handlers as vendors_handlers
from marketplace.vendors import seed as vendors_seed
from marketplace.vendors.api import router as vendors_router
from marketplace.vendors.models import PayoutAccount, Vendor


@dataclass(frozen=True)
class ContextSpec:
    """What a bounded context plugs into the process."""

    name: str
    routers: Callable[[], Sequence[APIRouter]] = lambda: ()
    register: Callable[[Registry], None] | None = None
    seed_demo: Callable[[Container], Awaitable[object]] | None = None
    # GET routes whose answers `CachedReadsMiddleware` may serve from the read cache.
    cached_reads: Callable[[], Sequence[ReadKey]] = lambda: ()


# Contexts in dependency order (seeding runs in this order).
CONTEXTS: tuple[ContextSpec, ...] = (
    ContextSpec(
        name="identity",
        routers=lambda: (identity_router,),
        seed_demo=lambda c: identity_seed.seed_demo(c.uow_factory, c.identity),
    ),
    ContextSpec(name="compliance", routers=lambda: (compliance_router,)),
    ContextSpec(
        name="vendors",
        routers=lambda: (vendors_router,),
        register=vendors_handlers.register,
        seed_demo=lambda c: vendors_seed.seed_demo(c.uow_factory, c.cipher),
    ),
    ContextSpec(
        name="inventory",
        routers=lambda: (inventory_router,),
        register=inventory_handlers.register,
    ),
    ContextSpec(
        name="catalog",
        routers=lambda: (catalog_router,),
        register=catalog_handlers.register,
        cached_reads=lambda: (catalog_read_key,),
    ),
    ContextSpec(
        name="payments",
        routers=lambda: (payments_router,),
        register=payments_handlers.register,
    ),
    ContextSpec(
        name="orders",
        routers=lambda: (orders_router,),
        register=orders_handlers.register,
    ),
    ContextSpec(
        name="shipping",
        routers=lambda: (shipping_router,),
        register=shipping_handlers.register,
    ),
    ContextSpec(
        name="notifications",
        routers=lambda: (notifications_router,),
        register=notifications_handlers.register,
    ),
)


@dataclass(frozen=True)
class EncryptedColumn:
    """A column holding `platform.crypto` tokens, for `marketplace rotate-encryption-keys`."""

    table: Table
    column: str
    id_column: str = "id"

    @property
    def context_prefix(self) -> str:
        return f"{self.table.name}.{self.column}"


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(User.__table__, "phone_encrypted"),  # type: ignore[arg-type]
    EncryptedColumn(Vendor.__table__, "tax_id_encrypted"),  # type: ignore[arg-type]
    EncryptedColumn(PayoutAccount.__table__, "details_encrypted"),  # type: ignore[arg-type]
    EncryptedColumn(WebhookEndpoint.__table__, "secret_encrypted"),  # type: ignore[arg-type]
)


@dataclass
class Container:
    settings: Settings
    db: Database
    cache: Cache
    registry: Registry
    uow_factory: UnitOfWorkFactory
    jobs: JobRuntime
    idempotency: IdempotencyStore
    cipher: FieldCipher
    identity: IdentityRuntime
    idempotency_scope: ScopeResolver
    storage: Storage
    read_cache: ReadCache
    payment_gateways: Gateways
    contexts: tuple[ContextSpec, ...] = field(default=())


def enabled_contexts(names: Sequence[str] | None) -> tuple[ContextSpec, ...]:
    if not names:
        return CONTEXTS
    unknown = set(names) - {c.name for c in CONTEXTS}
    if unknown:
        raise ValueError(f"unknown contexts: {', '.join(sorted(unknown))}")
    return tuple(c for c in CONTEXTS if c.name in names)


def build_container(
    settings: Settings,
    *,
    contexts: Sequence[ContextSpec] | None = None,
    db: Database | None = None,
    inline_jobs: bool = False,
) -> Container:
    """Wire the parts; `db` and `inline_jobs` let tests run everything on one connection."""
    chosen = tuple(contexts) if contexts is not None else CONTEXTS
    db = db or Database.connect(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    registry = Registry()
    maintenance.register(registry)
    for context in chosen:
        if context.register is not None:
            context.register(registry)
    if settings.env == "production" and (problems := settings.production_problems()):
        raise RuntimeError("refusing to start in production: " + "; ".join(problems))
    uow_factory = UnitOfWorkFactory(db)
    cache = build_cache(settings.redis_url, prefix="mk:")
    read_cache = ReadCache(
        cache,
        # Redis holds the bodies too; a process's memory holds only a bounded number of them.
        cache if settings.redis_url else MemoryCache(max_keys=settings.read_cache_entries),
        ttl_seconds=settings.read_cache_seconds,
    )
    db.on_committed_writes(read_cache.invalidate_on_writes("catalog", catalog.CACHED_TABLES))
    cipher = FieldCipher(_encryption_keyring(settings))
    storage = _storage(settings)
    # The thumbnail job runs outside any request: it finds this storage through the registry.
    catalog_images.bind_storage(registry, storage)
    # Receipts and statements are issued by a subscriber and on download: both find their
    # storage and the marketplace's name through the unit of work's database.
    orders_receipts.bind_documents(
        db,
        orders_receipts.DocumentSettings(
            storage,
            settings.marketplace_name,
            Renderer(settings.document_render_processes or 0),
        ),
    )
    identity = IdentityRuntime(_identity_config(settings), cache=cache, cipher=cipher)
    gateways = _payment_gateways(settings, uow_factory, cipher)
    # Jobs and facade functions have only a unit of work: they find the providers by its db.
    bind_gateways(db, gateways)
    # Shipping's handlers and jobs find the carrier adapters the same way.
    bind_carriers(db, _carriers(settings))
    # Handlers, jobs and routes find the channels through their unit of work's database.
    bind_runtime(db, _notification_runtime(settings, storage, cipher))
    jobs = JobRuntime(
        uow_factory,
        registry,
        broker_url=settings.broker_url,
        broker_queue=settings.broker_queue,
        relay_interval=settings.relay_interval_seconds,
        max_attempts=settings.job_max_attempts,
        inline=inline_jobs,
        concurrency=settings.job_concurrency
        or max(1, (settings.database_pool_size + settings.database_max_overflow) // 2),
        burst=BurstPolicy(
            threshold=settings.job_burst_messages_per_second,
            cooldown=settings.job_burst_cooldown_seconds,
            max_deferral=settings.job_max_deferral_seconds,
        ),
    )
    return Container(
        settings=settings,
        db=db,
        cache=cache,
        registry=registry,
        uow_factory=uow_factory,
        jobs=jobs,
        idempotency=IdempotencyStore(
            db,
            ttl=timedelta(hours=settings.idempotency_ttl_hours),
            lease=timedelta(seconds=settings.idempotency_lock_seconds),
        ),
        cipher=cipher,
        identity=identity,
        idempotency_scope=idempotency_scope_resolver(identity),
        storage=storage,
        read_cache=read_cache,
        payment_gateways=gateways,
        contexts=chosen,
    )


def _derive(settings: Settings, purpose: str) -> bytes:
    """A development key from the root secret, one per purpose (never used in production)."""
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def _storage(settings: Settings) -> Storage:
    secret = settings.s3_secret_access_key
    return build_storage(
        settings.storage_backend,
        local_root=settings.media_root,
        media_url=settings.media_url,
        signing_key=_derive(settings, "media-upload"),
        s3_bucket=settings.s3_bucket,
        s3_region=settings.s3_region,
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_access_key_id=settings.s3_access_key_id,
        s3_secret_access_key=secret.get_secret_value() if secret else None,
        s3_public_base_url=settings.s3_public_base_url,
    )


def _payment_gateways(
    settings: Settings, uow_factory: UnitOfWorkFactory, cipher: FieldCipher
) -> Gateways:
    if problems := settings.payment_provider_problems():
        # An enabled gateway without credentials would fail every checkout: refuse to start.
        raise ValueError("payment providers are not configured: " + "; ".join(problems))
    tolerance = timedelta(seconds=settings.payments_webhook_tolerance_seconds)
    providers: list[PaymentProvider] = []
    for name in settings.payment_providers:
        if name == "sandbox":
            secret = settings.payments_sandbox_webhook_secret
            providers.append(
                SandboxProvider(
                    uow_factory,
                    webhook_secret=secret.get_secret_value().encode()
                    if secret
                    else _derive(settings, "payments-sandbox-webhook"),
                    webhook_tolerance=tolerance,
                )
            )
        elif name == "stripe":
            providers.append(
                StripeProvider(
                    secret_key=_secret(settings.stripe_secret_key),
                    webhook_secret=_secret(settings.stripe_webhook_secret),
                    webhook_tolerance=tolerance,
                )
            )
        elif name == "paypal":
            providers.append(
                PayPalProvider(
                    client_id=settings.paypal_client_id or "",
                    client_secret=_secret(settings.paypal_client_secret),
                    webhook_id=settings.paypal_webhook_id or "",
                    environment=settings.paypal_environment,
                    webhook_tolerance=tolerance,
                )
            )
        elif name == "razorpay":
            providers.append(
                RazorpayProvider(
                    key_id=settings.razorpay_key_id or "",
                    key_secret=_secret(settings.razorpay_key_secret),
                    webhook_secret=_secret(settings.razorpay_webhook_secret),
                )
            )
        else:
            raise ValueError(f"unknown payment provider {name!r}")
    return Gateways(
        providers,
        hold_period=timedelta(days=settings.payments_hold_days),
        chargeback_reverses_commission=settings.payments_chargeback_reverses_commission,
        cipher=cipher,
    )


def _secret(value: SecretStr | None) -> str:
    # Settings have refused an enabled adapter whose credentials are missing already.
    return value.get_secret_value() if value is not None else ""


def _carriers(settings: Settings) -> Carriers:
    if problems := settings.shipping_problems():
        raise ValueError("; ".join(problems))
    adapters: list[CarrierAdapter] = []
    for name in settings.shipping_carriers:
        if name == "easypost":
            adapters.append(
                EasyPostAdapter(
                    api_key=_secret(settings.shipping_easypost_api_key),
                    webhook_secret=_secret(settings.shipping_easypost_webhook_secret),
                    api_base=settings.shipping_easypost_api_base,
                )
            )
        elif name == "dhl":
            adapters.append(
                DhlAdapter(
                    api_key=_secret(settings.shipping_dhl_api_key),
                    base_url=settings.shipping_dhl_base_url,
                )
            )
        elif name == "fedex":
            adapters.append(
                FedexAdapter(
                    client_id=settings.shipping_fedex_client_id or "",
                    client_secret=_secret(settings.shipping_fedex_client_secret),
                    base_url=settings.shipping_fedex_base_url,
                )
            )
    return Carriers(
        adapters,
        poll_interval=timedelta(minutes=settings.shipping_poll_interval_minutes),
        max_poll_interval=timedelta(hours=settings.shipping_max_poll_interval_hours),
    )


def _notification_runtime(
    settings: Settings, storage: Storage, cipher: FieldCipher
) -> NotificationRuntime:
    mailer: Mailer
    if settings.notifications_smtp_host:
        password = settings.notifications_smtp_password
        mailer = SmtpMailer(
            host=settings.notifications_smtp_host,
            port=settings.notifications_smtp_port,
            sender=settings.notifications_email_from,
            sender_name=settings.notifications_email_from_name,
            username=settings.notifications_smtp_username,
            password=password.get_secret_value() if password else None,
            use_tls=settings.notifications_smtp_tls,
            start_tls=settings.notifications_smtp_starttls,
        )
    else:
        mailer = OutboxFolderMailer(
            settings.outbox_dir,
            sender=settings.notifications_email_from,
            sender_name=settings.notifications_email_from_name,
        )
    sms: SmsSender = LogSms()
    token = settings.notifications_twilio_auth_token
    if settings.notifications_sms_enabled and settings.notifications_twilio_account_sid and token:
        sms = TwilioSms(
            account_sid=settings.notifications_twilio_account_sid,
            auth_token=token.get_secret_value(),
            from_number=settings.notifications_twilio_from_number,
            messaging_service_sid=settings.notifications_twilio_messaging_service_sid,
            api_base_url=settings.notifications_twilio_api_base_url,
        )
    secret = settings.notifications_unsubscribe_secret
    return NotificationRuntime(
        mailer=mailer,
        sms=sms,
        webhooks=WebhookSender(),
        storage=storage,
        cipher=cipher,
        unsubscribe_secret=secret.get_secret_value().encode()
        if secret
        else _derive(settings, "notifications-unsubscribe"),
        public_base_url=settings.public_base_url,
        site_name=settings.notifications_email_from_name,
        message_id_domain=settings.notifications_email_from.rpartition("@")[2] or "localhost",
        sms_enabled=settings.notifications_sms_enabled,
        max_attempts=settings.notifications_max_attempts,
        admin_emails=tuple(settings.notifications_admin_emails),
    )


def _encryption_keyring(settings: Settings) -> Keyring:
    if settings.encryption_keys:
        return Keyring.from_config(
            {kid: key.get_secret_value() for kid, key in settings.encryption_keys.items()},
            settings.encryption_current_key,
        )
    return Keyring.derived(settings.secret_key.get_secret_value())


def _identity_config(settings: Settings) -> IdentityConfig:
    if settings.jwt_signing_keys:
        keys = {k: v.get_secret_value().encode() for k, v in settings.jwt_signing_keys.items()}
        current = settings.jwt_current_key or next(iter(keys))
    else:
        keys, current = {"dev": _derive(settings, "jwt-signing")}, "dev"
    return IdentityConfig(
        signing_keys=SigningKeys(keys=keys, current=current),
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
        hash_parameters=HashParameters(
            memory_kib=settings.password_hash_memory_kib,
            time_cost=settings.password_hash_time_cost,
        ),
    )
