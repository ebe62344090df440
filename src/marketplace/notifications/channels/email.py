"""Email: the two mailers, SMTP through aiosmtplib, and the embedded default that writes
`.eml` files to a local outbox folder (and a log line) when no SMTP server is configured.
Both send the bytes `mime.message_bytes` writes."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Protocol

import aiosmtplib

from marketplace.notifications.channels.base import (
    DeliveryFailed,
    OutgoingEmail,
    PermanentFailure,
)
from marketplace.notifications.channels.mime import envelope_address, message_bytes

logger = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> str:
        """Send and return the provider's id for the message (our Message-ID for SMTP)."""
        ...


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
        data = message_bytes(email, sender=self.sender, sender_name=self.sender_name)
        try:
            await aiosmtplib.send(
                data,
                sender=self.sender,
                recipients=[envelope_address(email.to)],
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
        data = message_bytes(email, sender=self.sender, sender_name=self.sender_name)
        name = email.message_id.strip("<>").replace("@", "_at_").replace("/", "_")
        path = self.folder / f"{name}.eml"
        await asyncio.to_thread(self._write, path, data)
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
