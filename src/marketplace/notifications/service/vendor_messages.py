"""Messages to vendors' teams (new orders, returns, statements, stock, store status,
payouts, chargebacks) and to the platform's operations addresses."""

from __future__ import annotations

from marketplace.notifications.channels import NotificationRuntime
from marketplace.notifications.service.compose import (
    AttachmentRef,
    Outcome,
    Recipient,
    notify,
    webhook_fanout,
)
from marketplace.notifications.service.recipients import (
    Payload,
    customer,
    money,
    vendor_name,
    vendor_team,
)
from marketplace.platform.messaging import Message
from marketplace.platform.uow import UnitOfWork


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
            "total": money(p["total"], p["currency"]),
            "lines": [
                {"title": i["title"], "sku": i["sku"], "quantity": i["quantity"]}
                for i in p["items"]
            ],
        },
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
        context={"payout_id": p["payout_id"], "amount": money(p["amount"], p["currency"])},
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
            "amount": money(p["amount"], p["currency"]),
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
                "amount": money(p["amount"], p["currency"]),
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
