"""Owns fetching untrusted URLs from the server side without server-side request forgery.

Vendors hand us URLs (image columns of a CSV import); fetching them from inside our network
must never reach what only our network can reach: loopback services, the cloud metadata
endpoint (169.254.169.254), private ranges, or anything else that is not a global unicast
address. The rules, applied to every hop:

* only ``http`` and ``https``, no credentials in the URL;
* the host is resolved here and *every* address it resolves to must be global (an IPv6
  address that embeds an IPv4 one, such as ``::ffff:10.0.0.1``, is judged by the embedded
  address); one forbidden address refuses the URL;
* the connection goes to the address that was checked (the URL is rewritten to the IP, with
  the original ``Host`` header and TLS server name), so a second DNS answer cannot swap in
  another address between the check and the connect (DNS rebinding);
* redirects are followed by hand, at most `max_redirects`, each target checked like the first;
* the body is streamed and cut at `max_bytes`; connect/read timeouts and an overall deadline
  bound the time one URL can take; proxies from the environment are ignored.

Refusals by these rules raise :class:`FetchRefused`; network and HTTP failures raise
:class:`FetchFailed`; both carry a short `reason` fit to show the vendor.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

import httpx

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FetchError",
    "FetchFailed",
    "FetchRefused",
    "Fetched",
    "Resolver",
    "address_refusal",
    "check_url",
    "fetch",
    "post",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT: Final = 5.0
DEFAULT_READ_TIMEOUT: Final = 10.0
DEFAULT_TOTAL_TIMEOUT: Final = 20.0
DEFAULT_MAX_REDIRECTS: Final = 3
MAX_URL_LENGTH: Final = 2000
USER_AGENT: Final = "marketplace-fetch/1.0"
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


class FetchError(Exception):
    """A URL that could not be fetched; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchRefused(FetchError):
    """Refused by policy: scheme, address, redirects or size."""


class FetchFailed(FetchError):
    """Allowed, but the fetch did not work: network error, timeout or an HTTP error status."""


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # the final URL, after redirects
    content_type: str | None
    content: bytes


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise FetchFailed(f"cannot resolve {host}") from error
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo client, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why connecting to `address` is refused ("loopback address 127.0.0.1"), or None when it
    is a global unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = address_refusal(embedded)
            return f"{reason} (in {address})" if reason else None
    # Most specific first, so the message names the category a vendor can look up.
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        # Shared address space (100.64/10), benchmarking, documentation, ...: not routable.
        ("non-global", not address.is_global),
    )
    for name, applies in checks:
        if applies:
            return f"{name} address {address}"
    return None


def _allowed(address: IPAddress, allow_networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in allow_networks)


def check_url(url: str, *, allow_networks: Sequence[IPNetwork] = ()) -> httpx.URL:
    """The parsed URL if its form is acceptable, without any DNS lookup: http(s), a host, no
    credentials, and (for an IP literal host) an allowed address. Raises FetchRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise FetchRefused(f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchRefused("not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused(f"scheme {parsed.scheme or '(none)'!r} is not allowed, only http/https")
    if not parsed.host:
        raise FetchRefused("URL has no host")
    if parsed.userinfo:
        raise FetchRefused("credentials in URLs are not allowed")
    literal = _ip_literal(parsed.host)
    if literal is not None and not _allowed(literal, allow_networks):
        reason = address_refusal(literal)
        if reason:
            raise FetchRefused(f"{reason} is not allowed")
    return parsed


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _checked_address(
    url: httpx.URL, resolver: Resolver, allow_networks: Sequence[IPNetwork]
) -> IPAddress:
    """The address to connect to: the literal, or the first of the resolved addresses, all of
    which must pass (an attacker controls which one a client would pick)."""
    literal = _ip_literal(url.host)
    if literal is not None:
        return literal
    host = url.raw_host.decode("ascii")
    answers = await resolver(host, url.port or (443 if url.scheme == "https" else 80))
    if not answers:
        raise FetchFailed(f"cannot resolve {host}")
    addresses: list[IPAddress] = []
    for answer in answers:
        # Scoped IPv6 answers ("fe80::1%eth0") carry a zone; the address is what matters.
        address = ipaddress.ip_address(answer.split("%", 1)[0])
        if not _allowed(address, allow_networks):
            reason = address_refusal(address)
            if reason:
                raise FetchRefused(f"{host} resolves to {reason}, which is not allowed")
        addresses.append(address)
    return addresses[0]


def _pinned_request(
    url: httpx.URL,
    address: IPAddress,
    *,
    method: str = "GET",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Request:
    """A request for `url` sent to `address`: Host header and TLS name stay the URL's host."""
    host_header = url.netloc.decode("ascii")
    target = url.copy_with(host=str(address))
    extensions: dict[str, str] = {}
    if url.scheme == "https":
        # The certificate is verified against the hostname, not the IP we connect to.
        extensions["sni_hostname"] = url.raw_host.decode("ascii")
    return httpx.Request(
        method,
        target,
        headers={
            "Host": host_header,
            "User-Agent": USER_AGENT,
            "Accept": "image/*, */*;q=0.5",
            # Compressed bodies could expand far past the size cap before it is checked.
            "Accept-Encoding": "identity",
            **(headers or {}),
        },
        content=content,
        extensions=extensions,
    )


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise FetchRefused(f"larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise FetchRefused(f"larger than {max_bytes} bytes")
    return bytes(body)


async def fetch(
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    allow_networks: Sequence[IPNetwork] = (),
) -> Fetched:
    """GET `url` under the rules above and return its body.

    `resolver` and `transport` replace DNS and the network (tests); `allow_networks` exempts
    networks from the address rules and exists for tests against a local server: production
    callers leave it empty.
    """
    try:
        async with asyncio.timeout(total_timeout):
            return await _fetch(
                url,
                max_bytes=max_bytes,
                timeout=httpx.Timeout(
                    connect=connect_timeout, read=read_timeout, write=read_timeout, pool=1.0
                ),
                max_redirects=max_redirects,
                resolver=resolver or system_resolver,
                transport=transport,
                allow_networks=allow_networks,
            )
    except TimeoutError:
        raise FetchFailed(f"took longer than {total_timeout:g} seconds") from None


async def _fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: httpx.Timeout,
    max_redirects: int,
    resolver: Resolver,
    transport: httpx.AsyncBaseTransport | None,
    allow_networks: Sequence[IPNetwork],
) -> Fetched:
    current = check_url(url, allow_networks=allow_networks)
    for hop in range(max_redirects + 1):
        address = await _checked_address(current, resolver, allow_networks)
        request = _pinned_request(current, address)
        # A client per hop: its pool is keyed by the IP, and must never hand a connection
        # opened for one hostname to a request for another.
        async with httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
        ) as client:
            try:
                response = await client.send(request, stream=True)
            except httpx.TimeoutException:
                raise FetchFailed("timed out") from None
            except httpx.HTTPError as error:
                raise FetchFailed(f"connection failed: {type(error).__name__}") from None
            try:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchFailed(f"HTTP {response.status_code} without a Location")
                    if hop == max_redirects:
                        raise FetchRefused(f"more than {max_redirects} redirects")
                    try:
                        following = current.join(location)
                    except (httpx.InvalidURL, ValueError):
                        raise FetchRefused("redirect to an invalid URL") from None
                    current = check_url(str(following), allow_networks=allow_networks)
                    continue
                if not 200 <= response.status_code < 300:
                    raise FetchFailed(f"HTTP {response.status_code}")
                try:
                    content = await _read_capped(response, max_bytes)
                except httpx.TimeoutException:
                    raise FetchFailed("timed out") from None
                except httpx.HTTPError as error:
                    raise FetchFailed(f"connection failed: {type(error).__name__}") from None
                return Fetched(
                    url=str(current),
                    content_type=response.headers.get("content-type"),
                    content=content,
                )
            finally:
                await response.aclose()
    raise FetchRefused(f"more than {max_redirects} redirects")  # pragma: no cover


async def post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    allow_networks: Sequence[IPNetwork] = (),
) -> int:
    """POST `body` to `url` under the same address rules as `fetch` and return the status.

    For calls to URLs others gave us (vendor webhooks). Redirects are not followed (a
    redirect answer is returned as its status), and the response body is not read.
    """
    current = check_url(url, allow_networks=allow_networks)
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=1.0
    )
    try:
        async with asyncio.timeout(total_timeout):
            address = await _checked_address(current, resolver or system_resolver, allow_networks)
            request = _pinned_request(
                current, address, method="POST", content=body, headers=headers
            )
            async with httpx.AsyncClient(
                transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
            ) as client:
                try:
                    response = await client.send(request)
                except httpx.TimeoutException:
                    raise FetchFailed("timed out") from None
                except httpx.HTTPError as error:
                    raise FetchFailed(f"connection failed: {type(error).__name__}") from None
                return response.status_code
    except TimeoutError:
        raise FetchFailed(f"took longer than {total_timeout:g} seconds") from None
