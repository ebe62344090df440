"""SSRF-safe fetching: what is refused before any connection, redirects re-checked hop by
hop, the connection pinned to the checked address, and the size and time limits.

Network access is faked with `httpx.MockTransport` and a fake resolver, except for the tests
against a small HTTP server on 127.0.0.1, which exempt loopback with `allow_networks` (the
production default refuses it, as the first tests show).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx
import pytest

from marketplace.platform import fetch as fetch_module
from marketplace.platform.fetch import (
    FetchFailed,
    FetchRefused,
    address_refusal,
    check_url,
    fetch,
)

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
PUBLIC_IP = "93.184.215.14"


class Recorder:
    """A MockTransport handler that records every request and answers from a script."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.respond = respond or (lambda _: httpx.Response(200, content=b"image-bytes"))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def resolving(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[Sequence[str]]]:
    calls: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback address 127.0.0.1 is not allowed"),
        (
            "http://169.254.169.254/latest/meta-data",
            "link-local address 169.254.169.254 is not allowed",
        ),
        ("http://[::1]/", "loopback address ::1 is not allowed"),
        ("http://10.0.0.1/", "private address 10.0.0.1 is not allowed"),
        ("http://0.0.0.0/", "unspecified address 0.0.0.0 is not allowed"),
        ("http://224.0.0.1/", "multicast address 224.0.0.1 is not allowed"),
        ("http://100.64.0.1/", "non-global address 100.64.0.1 is not allowed"),
        (
            "http://[::ffff:10.0.0.1]/",
            "private address 10.0.0.1 (in ::ffff:a00:1) is not allowed",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "link-local address 169.254.169.254 (in ::ffff:a9fe:a9fe) is not allowed",
        ),
        ("file:///etc/passwd", "scheme 'file' is not allowed, only http/https"),
        ("ftp://example.com/x.jpg", "scheme 'ftp' is not allowed, only http/https"),
        ("gopher://example.com/", "scheme 'gopher' is not allowed, only http/https"),
        ("//example.com/x.jpg", "scheme '(none)' is not allowed, only http/https"),
        ("http:///x.jpg", "URL has no host"),
        ("http://user:secret@example.com/x.jpg", "credentials in URLs are not allowed"),
    ],
)
async def test_refused_before_any_lookup_or_connection(url: str, reason: str) -> None:
    recorder = Recorder()
    resolver = resolving({})

    with pytest.raises(FetchRefused) as refused:
        await fetch(url, resolver=resolver, transport=recorder.transport)

    assert refused.value.reason == reason
    assert recorder.requests == []
    assert resolver.calls == []  # type: ignore[attr-defined]


async def test_a_hostname_resolving_to_loopback_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()
    resolver = resolving({"images.example.com": ["127.0.0.1"]})
    # The default resolver is looked up at call time, so patching the module replaces DNS.
    monkeypatch.setattr(fetch_module, "system_resolver", resolver)

    with pytest.raises(FetchRefused) as refused:
        await fetch("http://images.example.com/a.jpg", transport=recorder.transport)

    assert refused.value.reason == (
        "images.example.com resolves to loopback address 127.0.0.1, which is not allowed"
    )
    assert recorder.requests == []


async def test_one_private_answer_among_public_ones_refuses_the_host() -> None:
    recorder = Recorder()
    resolver = resolving({"cdn.example.com": [PUBLIC_IP, "2606:4700::1", "10.1.2.3"]})

    with pytest.raises(FetchRefused) as refused:
        await fetch(
            "https://cdn.example.com/a.jpg", resolver=resolver, transport=recorder.transport
        )

    assert refused.value.reason == (
        "cdn.example.com resolves to private address 10.1.2.3, which is not allowed"
    )
    assert recorder.requests == []


async def test_the_connection_goes_to_the_checked_address_with_the_original_host() -> None:
    recorder = Recorder(
        lambda _: httpx.Response(200, content=b"\x89PNG...", headers={"Content-Type": "image/png"})
    )
    resolver = resolving({"cdn.example.com": [PUBLIC_IP]})

    fetched = await fetch(
        "https://cdn.example.com:8443/img/a.png?v=2",
        resolver=resolver,
        transport=recorder.transport,
    )

    assert (fetched.url, fetched.content_type, fetched.content) == (
        "https://cdn.example.com:8443/img/a.png?v=2",
        "image/png",
        b"\x89PNG...",
    )
    [request] = recorder.requests
    assert str(request.url) == f"https://{PUBLIC_IP}:8443/img/a.png?v=2"
    assert request.headers["Host"] == "cdn.example.com:8443"
    assert request.extensions["sni_hostname"] == "cdn.example.com"
    assert request.headers["Accept-Encoding"] == "identity"


async def test_a_redirect_to_the_metadata_endpoint_is_refused() -> None:
    recorder = Recorder(
        lambda _: httpx.Response(
            302, headers={"Location": "http://169.254.169.254/latest/meta-data/iam"}
        )
    )
    resolver = resolving({"cdn.example.com": [PUBLIC_IP]})

    with pytest.raises(FetchRefused) as refused:
        await fetch("http://cdn.example.com/a.jpg", resolver=resolver, transport=recorder.transport)

    assert refused.value.reason == "link-local address 169.254.169.254 is not allowed"
    assert [str(r.url) for r in recorder.requests] == [f"http://{PUBLIC_IP}/a.jpg"]


async def test_a_redirect_to_a_host_resolving_privately_is_refused() -> None:
    recorder = Recorder(lambda _: httpx.Response(301, headers={"Location": "//internal.corp/x"}))
    resolver = resolving({"cdn.example.com": [PUBLIC_IP], "internal.corp": ["192.168.1.20"]})

    with pytest.raises(FetchRefused) as refused:
        await fetch("http://cdn.example.com/a.jpg", resolver=resolver, transport=recorder.transport)

    assert refused.value.reason == (
        "internal.corp resolves to private address 192.168.1.20, which is not allowed"
    )
    assert len(recorder.requests) == 1


async def test_redirects_are_followed_up_to_three_times() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        hops = int(request.url.params.get("hop", "0"))
        if hops < 3:
            return httpx.Response(302, headers={"Location": f"/next?hop={hops + 1}"})
        return httpx.Response(200, content=b"done")

    recorder = Recorder(respond)
    resolver = resolving({"cdn.example.com": [PUBLIC_IP]})

    fetched = await fetch(
        "http://cdn.example.com/a", resolver=resolver, transport=recorder.transport
    )

    assert (fetched.url, fetched.content) == ("http://cdn.example.com/next?hop=3", b"done")
    assert len(recorder.requests) == 4
    assert {r.headers["Host"] for r in recorder.requests} == {"cdn.example.com"}


async def test_a_fourth_redirect_is_refused() -> None:
    recorder = Recorder(lambda _: httpx.Response(302, headers={"Location": "/again"}))
    resolver = resolving({"cdn.example.com": [PUBLIC_IP]})

    with pytest.raises(FetchRefused) as refused:
        await fetch("http://cdn.example.com/a", resolver=resolver, transport=recorder.transport)

    assert refused.value.reason == "more than 3 redirects"
    assert len(recorder.requests) == 4


async def test_a_declared_length_over_the_cap_is_refused() -> None:
    recorder = Recorder(lambda _: httpx.Response(200, content=b"x" * 1001))
    resolver = resolving({"cdn.example.com": [PUBLIC_IP]})

    with pytest.raises(FetchRefused) as refused:
        await fetch(
            "http://cdn.example.com/a",
            resolver=resolver,
            transport=recorder.transport,
            max_bytes=1000,
        )

    assert refused.value.reason == "larger than 1000 bytes"


async def test_a_streamed_body_is_cut_at_the_cap() -> None:
    produced: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for index in range(10_000):
            produced.append(index)
            yield b"y" * 512

    recorder = Recorder(lambda _: httpx.Response(200, content=endless()))
    resolver = resolving({"cdn.example.com": [PUBLIC_IP]})

    with pytest.raises(FetchRefused) as refused:
        await fetch(
            "http://cdn.example.com/a",
            resolver=resolver,
            transport=recorder.transport,
            max_bytes=2048,
        )

    assert refused.value.reason == "larger than 2048 bytes"
    # Reading stopped at the first chunk past the cap, not at the end of the body.
    assert len(produced) == 5


async def test_an_error_status_fails() -> None:
    recorder = Recorder(lambda _: httpx.Response(404))
    resolver = resolving({"cdn.example.com": [PUBLIC_IP]})

    with pytest.raises(FetchFailed) as failed:
        await fetch("http://cdn.example.com/a", resolver=resolver, transport=recorder.transport)

    assert failed.value.reason == "HTTP 404"


def test_address_rules() -> None:
    assert address_refusal(ipaddress.ip_address(PUBLIC_IP)) is None
    assert address_refusal(ipaddress.ip_address("2606:4700::1111")) is None
    assert address_refusal(ipaddress.ip_address("fe80::1")) == "link-local address fe80::1"
    assert address_refusal(ipaddress.ip_address("fd00::1")) == "private address fd00::1"
    assert address_refusal(ipaddress.ip_address("64:ff9b::7f00:1")) == (
        "loopback address 127.0.0.1 (in 64:ff9b::7f00:1)"
    )
    assert address_refusal(ipaddress.ip_address("2002:a00:1::")) == (
        "private address 10.0.0.1 (in 2002:a00:1::)"
    )
    assert str(check_url("HTTPS://Example.COM/a.jpg")) == "https://example.com/a.jpg"


# --- against a real socket on 127.0.0.1 ---------------------------------------------------


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def local_server() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def test_loopback_is_refused_by_default_even_when_a_server_listens(
    local_server: Callable[[Handler], Awaitable[int]],
) -> None:
    connections: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(await _read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    port = await local_server(handler)

    with pytest.raises(FetchRefused) as refused:
        await fetch(f"http://127.0.0.1:{port}/secret")

    assert refused.value.reason == "loopback address 127.0.0.1 is not allowed"
    assert connections == []


async def test_a_real_redirect_to_the_metadata_endpoint_is_refused(
    local_server: Callable[[Handler], Awaitable[int]],
) -> None:
    requests: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await _read_request(reader))
        writer.write(
            b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    port = await local_server(handler)

    with pytest.raises(FetchRefused) as refused:
        await fetch(f"http://127.0.0.1:{port}/a.jpg", allow_networks=LOOPBACK)

    assert refused.value.reason == "link-local address 169.254.169.254 is not allowed"
    assert len(requests) == 1
    assert requests[0].startswith(b"GET /a.jpg HTTP/1.1\r\n")


async def test_a_real_streamed_body_over_the_cap_is_cut(
    local_server: Callable[[Handler], Awaitable[int]],
) -> None:
    sent: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        # Chunked, so no Content-Length warns the client: only counting can stop it.
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(200):
                writer.write(b"100000\r\n" + b"z" * 0x100000 + b"\r\n")
                await writer.drain()
                sent.append(0x100000)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    port = await local_server(handler)

    with pytest.raises(FetchRefused) as refused:
        await fetch(f"http://127.0.0.1:{port}/big", allow_networks=LOOPBACK, max_bytes=64 * 1024)

    assert refused.value.reason == "larger than 65536 bytes"
    # The client hung up long before the 200 MiB were sent (socket buffers hold a few MiB).
    assert len(sent) < 50


async def test_a_stalled_server_times_out(
    local_server: Callable[[Handler], Awaitable[int]],
) -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        await release.wait()
        writer.close()

    port = await local_server(handler)
    try:
        with pytest.raises(FetchFailed) as failed:
            await fetch(f"http://127.0.0.1:{port}/slow", allow_networks=LOOPBACK, read_timeout=0.2)
    finally:
        release.set()

    assert failed.value.reason == "timed out"


async def test_the_overall_deadline_bounds_a_trickling_server(
    local_server: Callable[[Handler], Awaitable[int]],
) -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        # One byte every 50 ms never trips the read timeout, only the overall deadline.
        while not release.is_set():
            writer.write(b"a")
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.close()

    port = await local_server(handler)
    try:
        with pytest.raises(FetchFailed) as failed:
            await fetch(
                f"http://127.0.0.1:{port}/trickle",
                allow_networks=LOOPBACK,
                read_timeout=1.0,
                total_timeout=0.5,
            )
    finally:
        release.set()

    assert failed.value.reason == "took longer than 0.5 seconds"


async def test_post_goes_pinned_to_the_checked_address_and_does_not_follow_redirects() -> None:
    recorder = Recorder(
        lambda _: httpx.Response(302, headers={"Location": "http://169.254.169.254/"})
    )
    resolver = resolving({"erp.example.com": [PUBLIC_IP]})

    status = await fetch_module.post(
        "https://erp.example.com/hooks?x=1",
        body=b'{"a":1}',
        headers={"Content-Type": "application/json"},
        resolver=resolver,
        transport=recorder.transport,
    )

    assert status == 302  # returned, never followed
    [request] = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == f"https://{PUBLIC_IP}/hooks?x=1"
    assert request.headers["Host"] == "erp.example.com"
    assert request.extensions["sni_hostname"] == "erp.example.com"
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == b'{"a":1}'


async def test_post_to_a_host_resolving_privately_is_refused_before_connecting() -> None:
    recorder = Recorder()
    resolver = resolving({"erp.example.com": [PUBLIC_IP, "192.168.1.4"]})

    with pytest.raises(FetchRefused) as refused:
        await fetch_module.post(
            "https://erp.example.com/hooks",
            body=b"{}",
            headers={},
            resolver=resolver,
            transport=recorder.transport,
        )

    assert refused.value.reason == (
        "erp.example.com resolves to private address 192.168.1.4, which is not allowed"
    )
    assert recorder.requests == []
