"""Notification test fixtures: a real SMTP server on loopback, the container's notification
runtime pointed at it, and a recording HTTP server (tests/factories/notifications.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from factories.notifications import RecordingHttpServer, SmtpServer, make_runtime
from marketplace.bootstrap import Container
from marketplace.notifications.channels import NotificationRuntime


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def runtime(container: Container, smtp: SmtpServer) -> NotificationRuntime:
    return make_runtime(container, smtp)


@pytest.fixture
def http_server() -> Iterator[RecordingHttpServer]:
    server = RecordingHttpServer()
    yield server
    server.close()
