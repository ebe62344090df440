"""Messages to customers about their orders: confirmation, shipping, delivery,
cancellation, refunds, return decisions, receipts and carrier tracking."""

from __future__ import annotations

from typing import Any, Final

from marketplace.notifications.channels import NotificationRuntime
from marketplace.notifications.service.compose import AttachmentRef, Outcome, Recipient, notify
from marketplace.notifications.service.recipients import (
    Payload,
    customer,
    money,
    vendor_name,
    vendor_names,
)
from marketplace.platform.messaging import Message
from marketplace.platform.uow import UnitOfWork


async def order_placed(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    names = await vendor_names(uow, [part["vendor_id"] for part in p["vendor_parts"]])
    parts = []
    for part in p["vendor_parts"]:
        parts.append(
            {
                "vendor_id": part["vendor_id"],
                "vendor_name": names[part["vendor_id"]],
                "total": money(part["total"], p["currency"]),
                "lines": [
                    {
                        "title": line["title"],
                        "quantity": line["quantity"],
                        "total": money(line["total"], p["currency"])
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
            "total": money(p["total"], p["currency"]),
            "parts": parts,
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
        uow, rt, message, p, "order_refunded", {"amount": money(p["amount"], p["currency"])}
    )


async def return_decided(
    uow: UnitOfWork, rt: NotificationRuntime, message: Message, p: Payload
) -> Outcome:
    amount = (
        money(p["refund_amount"], p["currency"])
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
