"""The channels a process sends through, and the settings messages are built with.

The composition root builds one `NotificationRuntime` and binds it to the container's
`Database` (`bind_runtime`); handlers, jobs and routes, which have a unit of work, find it
with `runtime_for(uow)` (payments' `bind_gateways` idea: two containers in one process never
see each other's channels).
"""

from __future__ import annotations

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from marketplace.notifications.channels.base import (
    Attachment,
    DeliveryFailed,
    OutgoingEmail,
    OutgoingSms,
    OutgoingWebhook,
    PermanentFailure,
)
from marketplace.notifications.channels.email import Mailer, OutboxFolderMailer, SmtpMailer
from marketplace.notifications.channels.sms import LogSms, SmsSender, TwilioSms
from marketplace.notifications.channels.webhook import WebhookSender
from marketplace.platform.crypto import FieldCipher
from marketplace.platform.db import Database
from marketplace.platform.storage import Storage
from marketplace.platform.uow import UnitOfWork

__all__ = [
    "Attachment",
    "DeliveryFailed",
    "LogSms",
    "Mailer",
    "NotificationRuntime",
    "OutboxFolderMailer",
    "OutgoingEmail",
    "OutgoingSms",
    "OutgoingWebhook",
    "PermanentFailure",
    "SmsSender",
    "SmtpMailer",
    "TwilioSms",
    "WebhookSender",
    "bind_runtime",
    "runtime_for",
]


@dataclass
class NotificationRuntime:
    mailer: Mailer
    sms: SmsSender
    webhooks: WebhookSender
    storage: Storage
    cipher: FieldCipher
    unsubscribe_secret: bytes
    public_base_url: str
    site_name: str = "Marketplace"
    message_id_domain: str = "marketplace.local"
    sms_enabled: bool = False
    max_attempts: int = 6
    admin_emails: tuple[str, ...] = ()
    # Attachments larger than this are not read into an email (a receipt is a few KB).
    max_attachment_bytes: int = 10 * 1024 * 1024


_bound: WeakKeyDictionary[Database, NotificationRuntime] = WeakKeyDictionary()


def bind_runtime(db: Database, runtime: NotificationRuntime) -> None:
    _bound[db] = runtime


def runtime_for(uow: UnitOfWork) -> NotificationRuntime:
    try:
        return _bound[uow.db]
    except KeyError:
        raise RuntimeError("no notification runtime bound to this database") from None
