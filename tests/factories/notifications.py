"""Notification test support: a real SMTP server on loopback (aiosmtpd) that can be taken
down and brought back on the same port, a recording HTTP server, and the container's
notification runtime pointed at them. The fixtures live in tests/notifications/conftest.py."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from marketplace.bootstrap import Container
from marketplace.notifications.channels import (
    LogSms,
    NotificationRuntime,
    SmtpMailer,
    WebhookSender,
    bind_runtime,
)

UNSUBSCRIBE_SECRET = b"unsubscribe-secret-for-tests-0123456789"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


@dataclass
class Inbox:
    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    """aiosmtpd on 127.0.0.1:<port>; `stop()` takes it down, `start()` brings it back."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def make_runtime(container: Container, smtp: SmtpServer, **overrides: Any) -> NotificationRuntime:
    values: dict[str, Any] = {
        "mailer": SmtpMailer(
            host="127.0.0.1",
            port=smtp.port,
            sender="shop@marketplace.test",
            sender_name="Marketplace",
            start_tls=False,
            timeout=5,
        ),
        "sms": LogSms(),
        "webhooks": WebhookSender(),
        "storage": container.storage,
        "cipher": container.cipher,
        "unsubscribe_secret": UNSUBSCRIBE_SECRET,
        "public_base_url": "https://api.marketplace.test",
        "message_id_domain": "marketplace.test",
        "max_attempts": 3,
        "admin_emails": ("ops@marketplace.test",),
    }
    values.update(overrides)
    runtime = NotificationRuntime(**values)
    bind_runtime(container.db, runtime)
    return runtime


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class RecordingHttpServer:
    """A local HTTP server on 127.0.0.1 that records requests and answers from a queue of
    (status, JSON body) replies (the last one repeats)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: list[tuple[int, dict[str, Any]]] = [(200, {})]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append(
                    Recorded(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length),
                    )
                )
                status, body = outer.replies[0] if len(outer.replies) == 1 else outer.replies.pop(0)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _handle
            do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
