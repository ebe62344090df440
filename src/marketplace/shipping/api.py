"""Shipping routes: the carriers' webhook, the customer's tracking of an order, and the
vendor's shipments (list, manual status updates)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from marketplace.identity.public import CurrentUser, VendorAccess, vendor_permission
from marketplace.orders import public as orders
from marketplace.platform.errors import AppError
from marketplace.platform.http import UoW
from marketplace.platform.pagination import Page, PageQuery, SortKey, paginate
from marketplace.shipping import repository as repo
from marketplace.shipping.carriers import carriers_for
from marketplace.shipping.domain.tracking import STATUSES
from marketplace.shipping.errors import OrderNotFound
from marketplace.shipping.models import TrackedShipment
from marketplace.shipping.schemas import (
    CarrierWebhookAck,
    OrderTrackingRead,
    ShipmentRead,
    TrackingEventIn,
    TrackingEventRead,
    VendorOrderTracking,
)
from marketplace.shipping.service import vendor, webhooks

router = APIRouter(tags=["shipping"])

OrderReader = Annotated[VendorAccess, Depends(vendor_permission("orders.read"))]
Fulfiller = Annotated[VendorAccess, Depends(vendor_permission("orders.fulfil"))]
STAFF_ROLES = ("admin", "support")
STATUS_PATTERN = "^(" + "|".join(STATUSES) + ")$"
MAX_WEBHOOK_BYTES = 256 * 1024


async def shipment_reads(uow: UoW, shipments: Sequence[TrackedShipment]) -> list[ShipmentRead]:
    """Shipments with their events: one query for every event of the page."""
    events = await repo.events_of(uow.session, [s.id for s in shipments])
    return [
        ShipmentRead(
            id=s.id,
            order_id=s.order_id,
            vendor_order_id=s.vendor_order_id,
            carrier=s.carrier,
            tracking_number=s.tracking_number,
            tracked_by=s.tracker,
            status=s.status,
            status_at=s.status_at,
            delivered_at=s.delivered_at,
            created_at=s.created_at,
            events=[
                TrackingEventRead(
                    status=e.status,
                    occurred_at=e.occurred_at,
                    description=e.description,
                    location=e.location,
                    source=e.source,
                )
                for e in events[s.id]
            ],
        )
        for s in shipments
    ]


@router.post(
    "/webhooks/carriers/{carrier}",
    summary="A carrier's tracking webhook (signature verified)",
    responses={
        400: {"description": "invalid_signature: bad signature or body; nothing stored"},
        404: {"description": "no enabled carrier of this name sends webhooks"},
        413: {"description": "body too large"},
    },
    # Read raw: the signature covers the exact bytes.
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the carrier's event as sent; EasyPost signs it in `X-Hmac-Signature`"
            " (`hmac-sha256-hex=<hex HMAC-SHA256 of the body>`)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def carrier_webhook(
    request: Request, uow: UoW, carrier: Annotated[str, Path(min_length=1, max_length=20)]
) -> CarrierWebhookAck:
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise AppError("webhook body too large", status=413, code="payload_too_large")
    headers = {name.lower(): value for name, value in request.headers.items()}
    receipt = await webhooks.receive_webhook(
        uow, carriers_for(uow), carrier=carrier, body=body, headers=headers
    )
    return CarrierWebhookAck(duplicate=receipt.duplicate, shipments=receipt.shipments)


@router.get("/orders/{oid}/tracking", summary="The parcels of an order per vendor, with events")
async def order_tracking(oid: str, uow: UoW, principal: CurrentUser) -> OrderTrackingRead:
    parties = await orders.order_parties(uow, oid)
    if parties is None or (
        parties.customer_id != principal.id and principal.platform_role not in STAFF_ROLES
    ):
        raise OrderNotFound()
    reads = await shipment_reads(uow, await repo.shipments_of_order(uow.session, oid))
    return OrderTrackingRead(
        order_id=oid,
        vendor_orders=[
            VendorOrderTracking(
                vendor_order_id=v.id,
                vendor_id=v.vendor_id,
                shipments=[s for s in reads if s.vendor_order_id == v.id],
            )
            for v in parties.vendor_orders
        ],
    )


@router.get("/vendors/{vid}/shipments", summary="The vendor's shipments, newest first")
async def vendor_shipments(
    uow: UoW,
    access: OrderReader,
    page: PageQuery,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
) -> Page[ShipmentRead]:
    rows, cursor = await paginate(
        uow.session,
        repo.vendor_shipments(access.vendor_id, status=status),
        keys=[
            SortKey(TrackedShipment.created_at, descending=True),
            SortKey(TrackedShipment.id, descending=True),
        ],
        params=page,
        cursor_of=lambda s: (s.created_at, s.id),
    )
    return Page(data=await shipment_reads(uow, rows), next_cursor=cursor)


@router.post(
    "/vendors/{vid}/shipments/{sid}/events",
    status_code=201,
    summary="Enter a status update of a parcel no carrier API follows",
    responses={409: {"description": "shipment_tracked_by_carrier"}},
)
async def add_shipment_event(
    sid: str, body: TrackingEventIn, uow: UoW, access: Fulfiller
) -> ShipmentRead:
    shipment = await vendor.add_vendor_event(
        uow,
        vendor_id=access.vendor_id,
        shipment_id=sid,
        status=body.status,
        description=body.description,
        location=body.location,
        occurred_at=body.occurred_at,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
    )
    return (await shipment_reads(uow, [shipment]))[0]
