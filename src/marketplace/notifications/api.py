"""Notification routes: the signed-in user's feed and preferences, one-click unsubscribe,
admins' view of dead deliveries, and vendors' webhook endpoints (`store.manage`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from marketplace.identity.public import (
    AdminReader,
    AdminWriter,
    CurrentUser,
    VendorAccess,
    vendor_permission,
)
from marketplace.notifications.channels import runtime_for
from marketplace.notifications.schemas import (
    CategoryPreferences,
    DeliveryRead,
    NotificationPage,
    NotificationRead,
    PreferencesRead,
    PreferencesUpdate,
    ReadAllResult,
    UnreadCount,
    UnsubscribeResult,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointRead,
)
from marketplace.notifications.service import dispatch, feed, preferences, webhooks
from marketplace.notifications.service.preferences import ChannelChoice, PreferencesView
from marketplace.platform.http import UoW
from marketplace.platform.pagination import Page, PageQuery

router = APIRouter(tags=["notifications"])

StoreManager = Annotated[VendorAccess, Depends(vendor_permission("store.manage"))]
IdPath = Annotated[str, Path(max_length=40)]


def _user_id(user: CurrentUser) -> str:
    assert user.user_id is not None  # CurrentUser is a person, never an API key
    return user.user_id


@router.get("/me/notifications", summary="My in-app notifications, newest first")
async def list_notifications(
    uow: UoW,
    user: CurrentUser,
    page: PageQuery,
    unread: Annotated[bool, Query(description="only unread entries")] = False,
) -> NotificationPage:
    rows, cursor, unread_count = await feed.list_feed(
        uow, user_id=_user_id(user), page=page, unread_only=unread
    )
    return NotificationPage(
        data=[NotificationRead.model_validate(r) for r in rows],
        next_cursor=cursor,
        unread_count=unread_count,
    )


@router.get("/me/notifications/unread-count", summary="How many of my notifications are unread")
async def unread_count(uow: UoW, user: CurrentUser) -> UnreadCount:
    return UnreadCount(unread_count=await feed.unread_count(uow, user_id=_user_id(user)))


@router.post(
    "/me/notifications/read-all",
    summary="Mark all my notifications read",
)
async def read_all(uow: UoW, user: CurrentUser) -> ReadAllResult:
    updated = await feed.mark_all_read(uow, user_id=_user_id(user))
    return ReadAllResult(updated=updated, unread_count=0)


@router.post(
    "/me/notifications/{notification_id}/read",
    summary="Mark one of my notifications read",
    responses={404: {"description": "no such notification of mine"}},
)
async def read_one(uow: UoW, user: CurrentUser, notification_id: IdPath) -> NotificationRead:
    row = await feed.mark_read(uow, user_id=_user_id(user), notification_id=notification_id)
    return NotificationRead.model_validate(row)


def _preferences(view: PreferencesView) -> PreferencesRead:
    return PreferencesRead(
        categories=[
            CategoryPreferences(
                category=c.name,
                description=c.description,
                transactional=c.transactional,
                channels=c.channels,
            )
            for c in view.categories
        ],
        sms_number=view.sms_number,
    )


@router.get("/me/notification-preferences", summary="Which messages I get on which channel")
async def get_preferences(uow: UoW, user: CurrentUser) -> PreferencesRead:
    return _preferences(await preferences.get_preferences(uow, user_id=_user_id(user)))


@router.put(
    "/me/notification-preferences",
    summary="Change which messages I get on which channel",
    responses={422: {"description": "unknown category, or a transactional one turned off"}},
)
async def put_preferences(uow: UoW, user: CurrentUser, body: PreferencesUpdate) -> PreferencesRead:
    view = await preferences.put_preferences(
        uow,
        user_id=_user_id(user),
        choices=[ChannelChoice(c.category, c.channel, c.enabled) for c in body.preferences],
        sms_number=body.sms_number,
        sms_number_given="sms_number" in body.model_fields_set,
    )
    return _preferences(view)


async def _unsubscribe(uow: UoW, token: str) -> UnsubscribeResult:
    rt = runtime_for(uow)
    _, category = await preferences.unsubscribe(uow, secret=rt.unsubscribe_secret, token=token)
    return UnsubscribeResult(unsubscribed=True, category=category)


Token = Annotated[str, Query(max_length=300, description="from the email's unsubscribe link")]


@router.get(
    "/notifications/unsubscribe",
    summary="Unsubscribe from one category of email (the link in the email)",
    responses={422: {"description": "the token is not valid"}},
)
async def unsubscribe(uow: UoW, token: Token) -> UnsubscribeResult:
    return await _unsubscribe(uow, token)


@router.post(
    "/notifications/unsubscribe",
    summary="One-click unsubscribe (RFC 8058 List-Unsubscribe-Post)",
    responses={422: {"description": "the token is not valid"}},
)
async def unsubscribe_one_click(uow: UoW, token: Token) -> UnsubscribeResult:
    return await _unsubscribe(uow, token)


@router.get("/admin/notifications/deliveries", summary="Notification deliveries, newest first")
async def list_deliveries(
    uow: UoW,
    admin: AdminReader,
    page: PageQuery,
    status: Annotated[Literal["pending", "sent", "dead"] | None, Query()] = None,
) -> Page[DeliveryRead]:
    rows, cursor = await dispatch.list_deliveries(uow, page=page, status=status)
    return Page(data=[DeliveryRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/admin/notifications/deliveries/{delivery_id}/retry",
    summary="Send a dead delivery again (fresh attempts)",
    responses={404: {"description": "no such delivery"}, 409: {"description": "not dead"}},
)
async def retry_delivery(uow: UoW, admin: AdminWriter, delivery_id: IdPath) -> DeliveryRead:
    revived = await dispatch.retry_dead(
        uow, delivery_id, actor_id=admin.id, actor_role=admin.actor_role
    )
    return DeliveryRead.model_validate(revived)


@router.post(
    "/vendors/{vid}/webhook-endpoints",
    status_code=201,
    tags=["webhooks"],
    summary="Register a webhook endpoint (the signing secret is shown once)",
    responses={422: {"description": "URL refused, or unknown event types"}},
)
async def create_endpoint(
    uow: UoW, access: StoreManager, body: WebhookEndpointCreate
) -> WebhookEndpointCreated:
    created = await webhooks.create_endpoint(
        uow,
        runtime_for(uow),
        vendor_id=access.vendor_id,
        url=body.url,
        events=body.events,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
    )
    return WebhookEndpointCreated(
        **WebhookEndpointRead.model_validate(created.endpoint).model_dump(),
        secret=created.secret,
    )


@router.get("/vendors/{vid}/webhook-endpoints", tags=["webhooks"], summary="Webhook endpoints")
async def list_endpoints(uow: UoW, access: StoreManager) -> WebhookEndpointList:
    rows = await webhooks.list_endpoints(uow, vendor_id=access.vendor_id)
    return WebhookEndpointList(data=[WebhookEndpointRead.model_validate(r) for r in rows])


@router.delete(
    "/vendors/{vid}/webhook-endpoints/{endpoint_id}",
    status_code=204,
    tags=["webhooks"],
    summary="Delete a webhook endpoint (pending deliveries to it stop)",
    responses={404: {"description": "no such endpoint"}},
)
async def delete_endpoint(uow: UoW, access: StoreManager, endpoint_id: IdPath) -> Response:
    await webhooks.delete_endpoint(
        uow,
        vendor_id=access.vendor_id,
        endpoint_id=endpoint_id,
        actor_id=access.principal.id,
        actor_role=access.actor_role,
    )
    return Response(status_code=204)


@router.get(
    "/vendors/{vid}/webhook-endpoints/{endpoint_id}/deliveries",
    tags=["webhooks"],
    summary="The delivery log of a webhook endpoint, newest first",
    responses={404: {"description": "no such endpoint"}},
)
async def endpoint_deliveries(
    uow: UoW, access: StoreManager, endpoint_id: IdPath, page: PageQuery
) -> Page[DeliveryRead]:
    rows, cursor = await webhooks.endpoint_deliveries(
        uow, vendor_id=access.vendor_id, endpoint_id=endpoint_id, page=page
    )
    return Page(data=[DeliveryRead.model_validate(r) for r in rows], next_cursor=cursor)
