"""Vendors' webhook endpoints: create (secret shown once), list, delete, and the delivery
log of one endpoint."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from marketplace.compliance.public import record_audit
from marketplace.notifications import repository as repo
from marketplace.notifications.channels import NotificationRuntime
from marketplace.notifications.errors import WebhookEndpointNotFound
from marketplace.notifications.models import Delivery, WebhookEndpoint
from marketplace.notifications.service.dispatch import secret_context
from marketplace.notifications.service.messages import WEBHOOK_TYPES
from marketplace.platform.clock import utcnow
from marketplace.platform.errors import ValidationFailed
from marketplace.platform.fetch import FetchRefused, check_url
from marketplace.platform.ids import new_id
from marketplace.platform.pagination import PageParams
from marketplace.platform.uow import UnitOfWork

EVENT_TYPES: tuple[str, ...] = tuple(sorted(set(WEBHOOK_TYPES.values())))
MAX_ENDPOINTS = 10


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str


async def create_endpoint(
    uow: UnitOfWork,
    rt: NotificationRuntime,
    *,
    vendor_id: str,
    url: str,
    events: Sequence[str],
    actor_id: str,
    actor_role: str,
) -> CreatedEndpoint:
    try:
        # Form and literal addresses now; every resolved address again at each delivery.
        check_url(url, allow_networks=rt.webhooks.allow_networks)
    except FetchRefused as error:
        raise ValidationFailed.on_field(["body", "url"], error.reason, "url_refused") from None
    if not url.startswith("https://") and not rt.webhooks.allow_networks:
        raise ValidationFailed.on_field(["body", "url"], "webhook URLs must use https")
    unknown = sorted(set(events) - {*EVENT_TYPES, "*"})
    if not events or unknown:
        raise ValidationFailed.on_field(
            ["body", "events"],
            f"choose from {', '.join(EVENT_TYPES)} or *"
            + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
        )
    if len(await repo.endpoints_of(uow.session, vendor_id)) >= MAX_ENDPOINTS:
        raise ValidationFailed.on_field(["body", "url"], f"at most {MAX_ENDPOINTS} endpoints")
    endpoint_id = new_id("whe")
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        vendor_id=vendor_id,
        url=url,
        events=sorted(set(events)),
        secret_encrypted=rt.cipher.encrypt(secret, context=secret_context(endpoint_id)),
        created_by=actor_id,
        created_at=utcnow(),
        deleted_at=None,
    )
    uow.session.add(endpoint)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="webhook_endpoint.created",
        resource_type="webhook_endpoint",
        resource_id=endpoint_id,
        after={"vendor_id": vendor_id, "url": url, "events": endpoint.events},
    )
    return CreatedEndpoint(endpoint, secret)


async def list_endpoints(uow: UnitOfWork, *, vendor_id: str) -> list[WebhookEndpoint]:
    return await repo.endpoints_of(uow.session, vendor_id)


async def delete_endpoint(
    uow: UnitOfWork, *, vendor_id: str, endpoint_id: str, actor_id: str, actor_role: str
) -> None:
    endpoint = await repo.endpoint(uow.session, vendor_id, endpoint_id)
    if endpoint is None:
        raise WebhookEndpointNotFound(f"no webhook endpoint {endpoint_id}")
    endpoint.deleted_at = utcnow()
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=actor_id,
        actor_role=actor_role,
        action="webhook_endpoint.deleted",
        resource_type="webhook_endpoint",
        resource_id=endpoint_id,
        before={"vendor_id": vendor_id, "url": endpoint.url, "events": endpoint.events},
    )


async def endpoint_deliveries(
    uow: UnitOfWork, *, vendor_id: str, endpoint_id: str, page: PageParams
) -> tuple[list[Delivery], str | None]:
    if await repo.endpoint(uow.session, vendor_id, endpoint_id) is None:
        raise WebhookEndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return await repo.list_deliveries(
        uow.session, page=page, recipient=endpoint_id, channel="webhook"
    )
