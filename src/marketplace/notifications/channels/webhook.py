"""Outgoing webhooks to vendor systems: a signed JSON POST to the vendor's URL.

The URL came from a vendor, so the request goes through `platform.fetch.post` (every
resolved address must be public, the connection is pinned to the checked address, no
redirects). The signature header is `Marketplace-Signature: t=<unix>,v1=<hex>` over
`"<t>.<body>"` with the endpoint's secret (the scheme Stripe uses), so the receiver can
reject forgeries and replays older than its tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from marketplace.notifications.channels.base import (
    DeliveryFailed,
    OutgoingWebhook,
    PermanentFailure,
)
from marketplace.notifications.domain import webhook_signature
from marketplace.platform.clock import utcnow
from marketplace.platform.fetch import FetchFailed, FetchRefused, IPNetwork, Resolver, post

SIGNATURE_HEADER = "Marketplace-Signature"


class WebhookSender:
    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_networks: Sequence[IPNetwork] = (),
        timeout: float = 10.0,
    ) -> None:
        self.resolver = resolver
        self.transport = transport
        self.allow_networks = tuple(allow_networks)
        self.timeout = timeout

    async def send(self, webhook: OutgoingWebhook) -> int:
        """POST and return the HTTP status; 2xx is delivered, anything else is retried."""
        timestamp = int(utcnow().timestamp())
        headers = {
            "Content-Type": "application/json",
            "Accept": "*/*",
            SIGNATURE_HEADER: webhook_signature(
                webhook.secret, timestamp=timestamp, body=webhook.body
            ),
            # The same id on every attempt: receivers deduplicate with it.
            "Marketplace-Delivery-Id": webhook.delivery_id,
        }
        try:
            status = await post(
                webhook.url,
                body=webhook.body,
                headers=headers,
                resolver=self.resolver,
                transport=self.transport,
                allow_networks=self.allow_networks,
                total_timeout=self.timeout,
            )
        except FetchRefused as error:
            raise PermanentFailure(f"refused: {error.reason}") from error
        except FetchFailed as error:
            raise DeliveryFailed(error.reason) from error
        if not 200 <= status < 300:
            raise DeliveryFailed(f"the endpoint answered {status}")
        return status
