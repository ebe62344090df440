"""The card-number guard: no payment card number (PAN) ever enters the API (PCI-DSS scope).

Card data goes to the payment provider's own fields and comes back as a token
(`pm_...`); the marketplace never receives, stores or logs a PAN. So any JSON request body
field whose value looks like one is refused with 422 `card_number_not_allowed` naming the
field (`loc`, as for any invalid field) before routing, authentication or any handler runs,
and the value itself is never echoed.

The rule, for a string or integer value (the whole value, trimmed):

* 13 to 19 digits, in groups separated by single spaces or dashes;
* Luhn-valid;
* starting like a card network's number (the IIN ranges of Visa, Mastercard, American
  Express, Discover, JCB, Diners Club, UnionPay, Maestro: 2221-2720, 3, 4, 5, 6).

That keeps long digit strings that are not cards out of it in practice: IBANs start with
letters, phone numbers in E.164 start with `+` (and a national number written with `00` starts
with 0), EAN/UPC codes use another check digit, order and vendor ids are prefixed. Two fields
are exempt by name because their legitimate values are digit strings of card length that can
pass both checks by chance: a bank `account_number` (validated and encrypted by the vendors
context) and a carrier's `tracking_number`. Free text that *contains* a card number is not
refused (it would refuse ordinary notes with long numbers); the log redaction
(`observability.redact_value`) masks such runs wherever they are logged.

Cost: bodies that are not JSON pass untouched. A JSON body is scanned as bytes for a run of
13+ digits that passes the rule; only then (rare: a real attempt) is it parsed to find the
field. A body with `\\u00` escapes is parsed too, as escaped digits would hide from the scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.platform.errors import problem_response

__all__ = [
    "EXEMPT_FIELDS",
    "CardNumberGuardMiddleware",
    "card_number_fields",
    "looks_like_pan",
    "may_hold_pan",
]

CODE: Final = "card_number_not_allowed"
EXEMPT_FIELDS: Final = frozenset({"account_number", "tracking_number"})
_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_VALUE_RE: Final = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_RUN_RE: Final = re.compile(rb"(?<![0-9])[0-9](?:[ -]?[0-9]){12,}(?![0-9])")
_MIN_DIGITS: Final = 13
_MAX_DIGITS: Final = 19
_MAX_DEPTH: Final = 64


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _card_network_prefix(digits: str) -> bool:
    first = digits[0]
    if first in "3456":
        return True
    return first == "2" and 2221 <= int(digits[:4]) <= 2720


def _digits_look_like_pan(digits: str) -> bool:
    return (
        _MIN_DIGITS <= len(digits) <= _MAX_DIGITS
        and _card_network_prefix(digits)
        and _luhn_valid(digits)
    )


def looks_like_pan(value: str) -> bool:
    """Whether the whole value (trimmed) is a card number by the rule above."""
    value = value.strip()
    if len(value) > 40 or not _VALUE_RE.fullmatch(value):
        return False
    return _digits_look_like_pan(value.replace(" ", "").replace("-", ""))


def card_number_fields(
    document: Any, path: tuple[str | int, ...] = ("body",), depth: int = 0
) -> Iterator[list[str | int]]:
    """The locations of every field of a parsed JSON document whose value looks like a PAN."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(document, dict):
        for key, value in document.items():
            if key in EXEMPT_FIELDS and not isinstance(value, dict | list):
                continue
            yield from card_number_fields(value, (*path, key), depth + 1)
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from card_number_fields(value, (*path, index), depth + 1)
    elif isinstance(document, str):
        if looks_like_pan(document):
            yield list(path)
    elif (
        isinstance(document, int)
        and not isinstance(document, bool)
        and _digits_look_like_pan(str(document))
    ):
        yield list(path)


def may_hold_pan(body: bytes) -> bool:
    """The cheap byte scan: False means no field of this JSON body can be a card number."""
    if b"\\u00" in body:
        return True
    for match in _RUN_RE.finditer(body):
        digits = match.group(0).replace(b" ", b"").replace(b"-", b"").decode()
        if _digits_look_like_pan(digits):
            return True
    return False


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class CardNumberGuardMiddleware:
    """Refuses JSON bodies carrying a card number; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if may_hold_pan(body):
            locations = self._locations(body)
            if locations:
                response = problem_response(
                    422,
                    CODE,
                    title="Card numbers are not accepted",
                    detail="card numbers go to the payment provider, never to this API: send "
                    "the provider's payment method token instead",
                    errors=[
                        {
                            "loc": loc,
                            "msg": "looks like a payment card number",
                            "code": CODE,
                        }
                        for loc in locations
                    ],
                )
                await response(scope, receive, send)
                return

        replay = iter(messages)

        async def replayed() -> Message:
            # The buffered messages first (one body), then whatever the client sends after.
            for message in replay:
                return message
            return await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    def _locations(body: bytes) -> list[list[str | int]]:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return []  # not JSON after all: the handler's own parsing answers
        return list(card_number_fields(document))
