"""The card-number guard at the request boundary: any JSON field holding a card number is
refused with 422 `card_number_not_allowed` naming the field, before any handler runs (nothing
is written), and the number never reaches the logs. Long digit strings that are not cards
pass."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.platform.observability import configure_logging
from marketplace.platform.pan_guard import (
    card_number_fields,
    looks_like_pan,
    may_hold_pan,
)
from support import count_notes, probe_router

URL = "/v1/probe/notes"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.mark.parametrize(
    "value",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        " 5555555555554444 ",
        "378282246310005",  # American Express, 15 digits
        "6011111111111117",  # Discover
        "2223003122003222",  # Mastercard 2-series
        "3530111333300000",  # JCB
        "4000056655665556",
    ],
)
def test_card_numbers_are_recognised(value: str) -> None:
    assert looks_like_pan(value) is True


@pytest.mark.parametrize(
    "value",
    [
        "4242424242424241",  # Luhn fails
        "424242424242",  # 12 digits
        "42424242424242424242",  # 20 digits
        "DE89370400440532013000",  # IBAN
        "GB82 WEST 1234 5698 7654 32",  # IBAN, grouped
        "+14155552671",  # E.164 phone
        "+44 20 7946 0958",
        "0044 20 7946 0958",  # international prefix: no card starts with 0
        "9400111899223197428490",  # USPS tracking, 22 digits
        "1Z999AA10123456784",  # UPS tracking
        "7946123456789017",  # starts with 7: no card network
        "4242  4242 4242 4242",  # double space: not a grouping
        "card 4242424242424242",  # free text: redacted in logs, not refused
        "ord_01JD3X5V6Q2W8Y9Z0A1B2C3D4E",
    ],
)
def test_other_long_digit_strings_are_not(value: str) -> None:
    assert looks_like_pan(value) is False


def test_every_location_is_found_with_exempt_fields_skipped() -> None:
    document: dict[str, Any] = {
        "note": "fine",
        "payment": {"cards": ["x", {"number": 4242424242424242}]},
        "backup": "5555 5555 5555 4444",
        "account_number": "4000056655665556",  # a bank account number: exempt by name
        "tracking_number": "4000056655665556",
        "flag": True,
    }

    assert list(card_number_fields(document)) == [
        ["body", "payment", "cards", 1, "number"],
        ["body", "backup"],
    ]


async def test_a_card_number_in_any_field_is_refused_before_the_handler(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    async with make_client([probe_router()]) as client:
        top = await client.post(URL, json={"text": "4111 1111 1111 1111"})
        nested = await client.post(
            URL, json={"text": "hello", "extra": [{"pan": 5555555555554444}]}
        )
        keyed = await client.post(
            URL, json={"text": "4111111111111111"}, headers={"Idempotency-Key": "k-pan"}
        )

    assert [r.status_code for r in (top, nested, keyed)] == [422, 422, 422]
    assert top.headers["content-type"] == "application/problem+json"
    assert top.json() == {
        "type": "/problems/card_number_not_allowed",
        "title": "Card numbers are not accepted",
        "status": 422,
        "detail": "card numbers go to the payment provider, never to this API: send the "
        "provider's payment method token instead",
        "code": "card_number_not_allowed",
        "errors": [
            {
                "loc": ["body", "text"],
                "msg": "looks like a payment card number",
                "code": "card_number_not_allowed",
            }
        ],
    }
    assert nested.json()["errors"][0]["loc"] == ["body", "extra", 0, "pan"]
    for response in (top, nested, keyed):
        assert "1111" not in response.text
        assert "4444" not in response.text
    assert await count_notes(session) == 0


async def test_long_digit_strings_that_are_not_cards_pass(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    async with make_client([probe_router()]) as client:
        responses = [
            await client.post(URL, json={"text": "+1 415 555 2671"}),
            await client.post(URL, json={"text": "DE89370400440532013000"}),
            await client.post(URL, json={"text": "x", "account_number": "4000056655665556"}),
            await client.post(URL, json={"text": "note about 4242424242424241"}),
        ]

    assert [r.status_code for r in responses] == [201, 201, 201, 201]
    assert await count_notes(session) == 4


async def test_bodies_that_are_not_json_are_not_inspected(
    make_client: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    body = orjson.dumps({"text": "4242424242424242"})
    async with make_client([probe_router()]) as client:
        response = await client.post(URL, content=body, headers={"content-type": "text/plain"})

    # FastAPI refuses the body for its media type; the guard never looked at it.
    assert response.status_code == 422
    assert response.json()["code"] != "card_number_not_allowed"
    assert await count_notes(session) == 0


async def test_a_refused_card_number_never_reaches_the_logs(
    make_client: Callable[..., httpx.AsyncClient], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="DEBUG", json=True)
    logger = structlog.get_logger("tests.pan")

    async with make_client([probe_router()]) as client:
        response = await client.post(URL, json={"text": "4242 4242 4242 4242"})
    # Whatever code logs a value anyway (a body, an error) goes through the redaction.
    logger.warning("client sent", body={"text": "4242 4242 4242 4242"}, raw="4242424242424242")
    logging.getLogger("tests.pan").warning("stdlib %s", "4242-4242-4242-4242")

    output = capsys.readouterr().out
    lines = [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert response.status_code == 422
    access = [line for line in lines if line["event"] == "http_request"]
    assert [(line["status"], line["path"]) for line in access] == [(422, URL)]
    for needle in ("4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242"):
        assert needle not in output
    # body.text, raw, and the stdlib line's event and message. (Counted per line: a random
    # request id may itself hold a Luhn-valid run of digits, which is masked too.)
    [sent] = [line for line in lines if line["event"] == "client sent"]
    assert (sent["body"], sent["raw"]) == ({"text": "[REDACTED]"}, "[REDACTED]")
    [stdlib] = [line for line in lines if line["event"].startswith("stdlib")]
    assert (stdlib["event"], stdlib["message"]) == ("stdlib [REDACTED]", "stdlib [REDACTED]")


def _with_check_digit(body: str) -> str:
    """The Luhn check digit appended (written here independently of the guard's own)."""
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return body + str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["4", "51", "55", "2221", "2720", "34", "37", "6011", "35"]))
    length = draw(st.integers(min_value=13, max_value=19))
    rest = draw(
        st.text("0123456789", min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1)
    )
    digits = _with_check_digit(prefix + rest)
    style = draw(st.sampled_from(["plain", "spaces", "dashes", "number"]))
    if style == "spaces":
        return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    if style == "dashes":
        return "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    return digits


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=30),
    st.floats(allow_nan=False, allow_infinity=False),
)
documents = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text("abcxyz_", min_size=1, max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)


@given(documents, card_numbers(), st.lists(st.text("abc", min_size=1, max_size=3), max_size=4))
def test_a_card_number_anywhere_is_found_and_the_byte_scan_never_misses_it(
    document: Any, card: str, path: list[str]
) -> None:
    value: Any = int(card) if card.isdigit() and card[0] != "0" else card
    nested: Any = value
    for key in reversed(path):
        nested = {key: nested}
    body = {"doc": document, "card": nested}

    found = list(card_number_fields(body))

    assert ["body", "card", *path] in found
    assert may_hold_pan(orjson.dumps(body)) is True
