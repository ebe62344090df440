"""Email: MIME building (text + HTML alternatives, attachments, one-click unsubscribe) and
the two mailers: SMTP through aiosmtplib, and the embedded default that writes `.eml` files
to a local outbox folder (and a log line) when no SMTP server is configured."""

from __future__ import annotations

import asyncio
import logging
import ssl
from email import policy as email_policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from marketplace.notifications.channels.base import (
    DeliveryFailed,
    OutgoingEmail,
    PermanentFailure,
)
from marketplace.platform.clock import utcnow

logger = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> str:
        """Send and return the provider's id for the message (our Message-ID for SMTP)."""
        ...


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, with each header's class made once: the stock one
    builds a new class with `type()` for every header it parses (a third of the cost of
    building a message). The headers, and so the bytes sent, are the same."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(key)
        return cls


# Messages are built with the default policy (as `EmailMessage()` would), but for the above.
_BUILD_POLICY = email_policy.default.clone(header_factory=_HeaderClasses())


def build_message(email: OutgoingEmail, *, sender: str, sender_name: str) -> EmailMessage:
    message = EmailMessage(policy=_BUILD_POLICY)
    message["From"] = formataddr((sender_name, sender))
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = email.message_id
    message["Auto-Submitted"] = "auto-generated"
    if email.unsubscribe_url:
        # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to the URL.
        message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.text)
    if email.html:
        message.add_alternative(email.html, subtype="html")
    for attachment in email.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    # After the body: setting content clears every Content-* header.
    message["Content-Language"] = email.language
    return message


# Lines up to RFC 5322's limit: folding long non-ASCII headers at 78 characters makes
# CPython split encoded words so that the space between two words is lost ("a été
# accepté" arrives as "a étéaccepté"); a subject (at most 300 characters) is never folded.
_WIRE_POLICY = email_policy.SMTP.clone(max_line_length=998)


def to_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=_WIRE_POLICY)


class SmtpMailer:
    """Any SMTP server or relay. Connection errors and 4xx answers are retried; a 5xx
    refusal of the recipient is permanent."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        sender_name: str,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.sender_name = sender_name
        self.username = username
        self.password = password
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.timeout = timeout
        self._tls_context: ssl.SSLContext | None = None

    def _tls(self) -> ssl.SSLContext | None:
        """One TLS context for every send (what aiosmtplib would otherwise build, loading
        the CA bundle in a thread, for each connection): verified certificates and host
        names. None when TLS can never be used (no implicit TLS, STARTTLS switched off)."""
        if not self.use_tls and self.start_tls is False:
            return None
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        return self._tls_context

    async def send(self, email: OutgoingEmail) -> str:
        message = build_message(email, sender=self.sender, sender_name=self.sender_name)
        try:
            await aiosmtplib.send(
                to_bytes(message),
                sender=self.sender,
                recipients=[email.to],
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=self.timeout,
                tls_context=self._tls(),
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [e.code for e in error.recipients]
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentFailure(f"recipient refused: {error}") from error
            raise DeliveryFailed(f"recipient refused: {error}") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from error
        return email.message_id


class OutboxFolderMailer:
    """The embedded default: `<folder>/<message id>.eml`. Writing the same Message-ID again
    replaces the file, so a resend after a crash leaves one message."""

    def __init__(self, folder: Path, *, sender: str, sender_name: str) -> None:
        self.folder = folder
        self.sender = sender
        self.sender_name = sender_name

    async def send(self, email: OutgoingEmail) -> str:
        message = build_message(email, sender=self.sender, sender_name=self.sender_name)
        name = email.message_id.strip("<>").replace("@", "_at_").replace("/", "_")
        path = self.folder / f"{name}.eml"
        await asyncio.to_thread(self._write, path, to_bytes(message))
        logger.info(
            "email written to the local outbox",
            extra={"to": email.to, "subject": email.subject, "path": str(path)},
        )
        return email.message_id

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
