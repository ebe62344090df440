"""What each event says, and to whom: one function per event, building the recipients and
the template context, then `compose.notify` (and `compose.webhook_fanout` for vendor
events). Recipients come from the facades: customers from identity's `user_summary`,
vendors' owners and managers from identity's `vendor_members`, store names from vendors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from marketplace.identity import public as identity
from marketplace.notifications.channels import NotificationRuntime
from marketplace.notifications.service.compose import (
    AttachmentRef,
    Outcome,
    Recipient,
    notify,
    webhook_fanout,
)
from marketplace.platform.messaging import Message
from marketplace.platform.uow import UnitOfWork
from marketplace.vendors import public as vendors

# Vendor roles that hear about their store (staff see orders in the dashboard).
VENDOR_RECIPIENT_ROLES: Final = frozenset({"owner", "manager"})

# Event name → the type vendor webhook endpoints subscribe to.
WEBHOOK_TYPES: Final[dict[str, str]] = {
    "orders.vendor_order_placed.v1": "order.placed",
    "orders.vendor_order_shipped.v1": "order.shipped",
    "orders.vendor_order_delivered.v1": "order.delivered",
    "orders.vendor_order_canceled.v1": "order.canceled",
    "orders.order_refunded.v1": "order.refunded",
    "orders.return_requested.v1": "return.requested",
    "inventory.stock_low.v1": "stock.low",
    "payments.payout_sent.v1": "payout.sent",
    "payments.payout_failed.v1": "payout.failed",
    "payments.chargeback_opened.v1": "chargeback.opened",
}


async def customer(uow: UnitOfWork, user_id: str) -> list[Recipient]:
    user = await identity.user_summary(uow, user_id)
    if user is None:
        return []  # erased or unknown: nobody to tell
    return [Recipient(user.id, user.email, user.name, user.locale, user_id=user.id)]


async def vendor_team(uow: UnitOfWork, vendor_id: str) -> list[Recipient]:
    return [
        Recipient(user.id, user.email, user.name, user.locale, user_id=user.id)
        for user, role in await identity.vendor_members(uow, vendor_id)
        if role in VENDOR_RECIPIENT_ROLES
    ]


async def vendor_name(uow: UnitOfWork, vendor_id: str) -> str:
    info = await vendors.vendor_info(uow, vendor_id)
    return info.name if info is not None else vendor_id


def _money(amount: Any, currency: Any) -> dict[str, Any]:
    return {"amount": int(amount), "currency": str(currency)}


async def handle(uow: UnitOfWork, rt: NotificationRuntime, message: Message) -> Outcome:
    """Compose the messages for one event (unknown events compose nothing)."""
    compose = _COMPOSERS.get(message.name)
    outcome = await compose(uow, rt, message, message.payload) if compose else Outcome()
    webhook_type = WEBHOOK_TYPES.get(message.name)
    vendor_id = message.payload.get("vendor_id")
    if webhook_type and isinstance(vendor_id, str):
        await webhook_fanout(
            uow,
            rt,
            message=message,
            vendor_id=vendor_id,
            event_type=webhook_type,
            data=dict(message.payload),
        )
    return outcome


Payload = Mapping[str, Any]


async def order_placed(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    parts = []
    for part in p["vendor_parts"]:
        parts.append(
            {
                "vendor_id": part["vendor_id"],
                "vendor_name": await vendor_name(uow, part["vendor_id"]),
                "total": _money(part["total"], p["currency"]),
                "lines": [
                    {
                        "title": line["title"],
                        "quantity": line["quantity"],
                        "total": _money(line["total"], p["currency"])
                        if line.get("total") is not None
                        else None,
                    }
                    for line in part.get("lines", [])
                ],
            }
        )
    return await notify(
        uow,
        rt,
        message=message,
        kind="order_confirmation",
        recipients=await customer(uow, p["customer_id"]),
        context={
            "order_id": p["order_id"],
            "total": _money(p["total"], p["currency"]),
            "parts": parts,
        },
    )


async def vendor_order_placed(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await notify(
        uow,
        rt,
        message=message,
        kind="vendor_new_order",
        recipients=await vendor_team(uow, p["vendor_id"]),
        vendor_id=p["vendor_id"],
        context={
            "order_id": p["order_id"],
            "vendor_order_id": p["vendor_order_id"],
            "vendor_name": await vendor_name(uow, p["vendor_id"]),
            "total": _money(p["total"], p["currency"]),
            "lines": [
                {"title": i["title"], "sku": i["sku"], "quantity": i["quantity"]}
                for i in p["items"]
            ],
        },
    )


async def _to_customer(
    uow: UnitOfWork,
    rt: NotificationRuntime,
    message: Message,
    p: Payload,
    kind: str,
    context: dict[str, Any],
    attachments: tuple[AttachmentRef, ...] = (),
) -> Outcome:
    if "vendor_id" in p:
        context = {"vendor_name": await vendor_name(uow, p["vendor_id"]), **context}
    return await notify(
        uow,
        rt,
        message=message,
        kind=kind,
        recipients=await customer(uow, p["customer_id"]),
        context={"order_id": p["order_id"], **context},
        attachments=attachments,
    )


async def vendor_order_shipped(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await _to_customer(
        uow,
        rt,
        message,
        p,
        "order_shipped",
        {
            "carrier": p["carrier"],
            "tracking_number": p["tracking_number"],
            "complete": bool(p["complete"]),
        },
    )


async def vendor_order_delivered(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await _to_customer(uow, rt, message, p, "order_delivered", {})


async def vendor_order_canceled(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await _to_customer(uow, rt, message, p, "order_canceled", {"reason": p.get("reason")})


async def order_refunded(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await _to_customer(
        uow, rt, message, p, "order_refunded", {"amount": _money(p["amount"], p["currency"])}
    )


async def return_requested(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await notify(
        uow,
        rt,
        message=message,
        kind="return_requested",
        recipients=await vendor_team(uow, p["vendor_id"]),
        vendor_id=p["vendor_id"],
        context={
            "return_id": p["return_id"],
            "order_id": p["order_id"],
            "vendor_order_id": p["vendor_order_id"],
        },
    )


async def return_decided(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    amount = (
        _money(p["refund_amount"], p["currency"])
        if p.get("currency") and p["approved"] and p["refund_amount"]
        else None
    )
    return await _to_customer(
        uow,
        rt,
        message,
        p,
        "return_decided",
        {"return_id": p["return_id"], "approved": bool(p["approved"]), "refund_amount": amount},
    )


async def receipt_issued(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    recipients = [
        r if r.locale else Recipient(r.key, r.email, r.name, p.get("language"), r.user_id)
        for r in await customer(uow, p["customer_id"])
    ]
    return await notify(
        uow,
        rt,
        message=message,
        kind="receipt",
        recipients=recipients,
        context={"order_id": p["order_id"]},
        attachments=(AttachmentRef(p["storage_key"], p["filename"]),),
    )


async def vendor_statement_issued(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await notify(
        uow,
        rt,
        message=message,
        kind="vendor_statement",
        recipients=await vendor_team(uow, p["vendor_id"]),
        vendor_id=p["vendor_id"],
        context={"order_id": p["order_id"], "vendor_order_id": p["vendor_order_id"]},
        attachments=(AttachmentRef(p["storage_key"], p["filename"]),),
    )


async def stock_low(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await notify(
        uow,
        rt,
        message=message,
        kind="stock_low",
        recipients=await vendor_team(uow, p["vendor_id"]),
        vendor_id=p["vendor_id"],
        context={
            "variant_id": p["variant_id"],
            "sku": p["sku"],
            "available": p["available"],
            "threshold": p["threshold"],
        },
    )


async def vendor_status_changed(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    if p["status"] not in ("approved", "rejected", "suspended"):
        return Outcome()
    return await notify(
        uow,
        rt,
        message=message,
        kind="vendor_status",
        recipients=await customer(uow, p["owner_id"]),
        vendor_id=p["vendor_id"],
        context={
            "vendor_id": p["vendor_id"],
            "vendor_name": await vendor_name(uow, p["vendor_id"]),
            "status": p["status"],
            "reason": p.get("reason"),
        },
    )


async def payout_sent(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await notify(
        uow,
        rt,
        message=message,
        kind="payout_sent",
        recipients=await vendor_team(uow, p["vendor_id"]),
        vendor_id=p["vendor_id"],
        context={"payout_id": p["payout_id"], "amount": _money(p["amount"], p["currency"])},
    )


async def payout_failed(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await notify(
        uow,
        rt,
        message=message,
        kind="payout_failed",
        recipients=await vendor_team(uow, p["vendor_id"]),
        vendor_id=p["vendor_id"],
        context={
            "payout_id": p["payout_id"],
            "amount": _money(p["amount"], p["currency"]),
            "failure_message": p.get("failure_message"),
        },
    )


async def chargeback_opened(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    deliveries: list[str] = []
    in_app = 0
    # One chargeback can touch several vendors of a checkout: each hears of it.
    for vendor_id in p["vendor_ids"]:
        outcome = await notify(
            uow,
            rt,
            message=message,
            kind="chargeback_opened",
            recipients=await vendor_team(uow, vendor_id),
            vendor_id=vendor_id,
            context={
                "chargeback_id": p["chargeback_id"],
                "order_id": p["order_id"],
                "amount": _money(p["amount"], p["currency"]),
                "reason": p.get("reason"),
            },
        )
        deliveries += outcome.deliveries
        in_app += outcome.in_app
        await webhook_fanout(
            uow,
            rt,
            message=message,
            vendor_id=vendor_id,
            event_type="chargeback.opened",
            data=dict(p),
        )
    return Outcome(deliveries=deliveries, in_app=in_app)


async def reconciliation_mismatch(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    admins = [Recipient(f"admin:{email}", email, "Admin", None) for email in rt.admin_emails]
    return await notify(
        uow,
        rt,
        message=message,
        kind="reconciliation_mismatch",
        recipients=admins,
        context={
            "run_id": p["run_id"],
            "provider": p["provider"],
            "mismatch_count": p["mismatch_count"],
        },
    )


TRACKING_STATUSES: Final = frozenset({"out_for_delivery", "exception"})


async def tracking_updated(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    if p["status"] not in TRACKING_STATUSES:
        return Outcome()  # in transit, label created...: not worth a message
    return await _to_customer(
        uow,
        rt,
        message,
        p,
        "tracking_update",
        {
            "shipment_id": p["shipment_id"],
            "status": p["status"],
            "carrier": p["carrier"],
            "tracking_number": p["tracking_number"],
            "description": p.get("description"),
        },
    )


async def shipment_delivered(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    return await _to_customer(
        uow,
        rt,
        message,
        p,
        "tracking_update",
        {
            "shipment_id": p["shipment_id"],
            "status": "delivered",
            "carrier": p["carrier"],
            "tracking_number": p["tracking_number"],
            "description": None,
        },
    )


_COMPOSERS: Final = {
    "orders.order_placed.v1": order_placed,
    "orders.vendor_order_placed.v1": vendor_order_placed,
    "orders.vendor_order_shipped.v1": vendor_order_shipped,
    "orders.vendor_order_delivered.v1": vendor_order_delivered,
    "orders.vendor_order_canceled.v1": vendor_order_canceled,
    "orders.order_refunded.v1": order_refunded,
    "orders.return_requested.v1": return_requested,
    "orders.return_decided.v1": return_decided,
    "orders.receipt_issued.v1": receipt_issued,
    "orders.vendor_statement_issued.v1": vendor_statement_issued,
    "inventory.stock_low.v1": stock_low,
    "vendors.vendor_status_changed.v1": vendor_status_changed,
    "payments.payout_sent.v1": payout_sent,
    "payments.payout_failed.v1": payout_failed,
    "payments.chargeback_opened.v1": chargeback_opened,
    "payments.reconciliation_mismatch_found.v1": reconciliation_mismatch,
    "shipping.tracking_updated.v1": tracking_updated,
    "shipping.shipment_delivered.v1": shipment_delivered,
}
