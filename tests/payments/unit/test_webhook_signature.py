"""The sandbox's (Stripe's) webhook signature scheme: `t=<ts>,v1=HMAC-SHA256(secret, t.body)`,
with a timestamp tolerance and several v1 candidates while a secret rotates."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from marketplace.payments.providers import InvalidSignature, signature

SECRET = b"whsec_test"
BODY = b'{"id":"evt_1","type":"payment_intent.succeeded"}'
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TS = int(NOW.timestamp())


def test_the_header_is_stripes_format() -> None:
    expected = hmac.new(SECRET, f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature.sign(SECRET, BODY, TS) == f"t={TS},v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    header = signature.sign(SECRET, BODY, TS)
    assert signature.verify([SECRET], BODY, header, now=NOW + timedelta(seconds=299)) == TS


def test_any_matching_candidate_or_secret_verifies_during_rotation() -> None:
    old = signature.compute(b"old", BODY, TS)
    header = f"t={TS},v1={'0' * 64},v1={old}"
    assert signature.verify([SECRET, b"old"], BODY, header, now=NOW) == TS


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        (None, BODY, NOW),
        ("", BODY, NOW),
        ("v1=abc", BODY, NOW),
        (f"t={TS}", BODY, NOW),
        (f"t=abc,v1={signature.compute(SECRET, BODY, TS)}", BODY, NOW),
        (signature.sign(SECRET, BODY, TS), BODY + b" ", NOW),  # body changed
        (signature.sign(b"other", BODY, TS), BODY, NOW),  # wrong secret
        (signature.sign(SECRET, BODY, TS), BODY, NOW + timedelta(seconds=301)),  # replayed late
        (signature.sign(SECRET, BODY, TS), BODY, NOW - timedelta(seconds=301)),  # from the future
        # The timestamp is signed: moving it forward breaks the signature.
        (f"t={TS + 100},v1={signature.compute(SECRET, BODY, TS)}", BODY, NOW),
    ],
)
def test_bad_or_stale_signatures_are_refused(
    header: str | None, body: bytes, now: datetime
) -> None:
    with pytest.raises(InvalidSignature):
        signature.verify([SECRET], body, header, now=now)
