"""Prefixed ULID ids: format, ordering, uniqueness, validation; and the UTC clock they use."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.platform import ids
from marketplace.platform.clock import ensure_utc, utcnow
from marketplace.platform.ids import id_timestamp, new_id

ID_RE = re.compile(r"[a-z]{2,8}_[0-7][0-9A-HJKMNP-TV-Z]{25}")
FIXED_MS = 1_893_553_445_678  # 2030-01-02T03:04:05.678Z


@pytest.fixture
def frozen_ms(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pin the id clock; the generator state is restored afterwards by monkeypatch."""
    now = [FIXED_MS]
    monkeypatch.setattr(ids, "_now_ms", lambda: now[0])
    monkeypatch.setattr(ids, "_last_ms", -1)
    monkeypatch.setattr(ids, "_last_random", 0)
    return now


def test_format() -> None:
    value = new_id("ord")
    assert ID_RE.fullmatch(value)
    assert value.startswith("ord_")
    assert len(value) == len("ord_") + 26


def test_ten_thousand_ids_strictly_increase() -> None:
    generated = [new_id("ord") for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(generated))


def test_ids_are_unique_across_prefixes() -> None:
    generated = [new_id(prefix) for prefix in ("ord", "usr", "vnd", "pay") for _ in range(2_500)]
    bodies = {value.split("_", 1)[1] for value in generated}
    assert len(bodies) == len(generated)


def test_same_millisecond_ids_increase_and_share_the_timestamp(frozen_ms: list[int]) -> None:
    generated = [new_id("ord") for _ in range(1_000)]
    assert all(a < b for a, b in itertools.pairwise(generated))
    assert {value[4:14] for value in generated} == {generated[0][4:14]}


def test_ids_keep_increasing_when_the_clock_steps_back(frozen_ms: list[int]) -> None:
    first = new_id("ord")
    frozen_ms[0] -= 5_000
    second = new_id("ord")
    assert second > first
    assert id_timestamp(second) == id_timestamp(first)


def test_random_overflow_borrows_the_next_millisecond(
    frozen_ms: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = new_id("ord")
    monkeypatch.setattr(ids, "_last_random", (1 << 80) - 1)
    after = new_id("ord")
    assert after > before
    assert id_timestamp(after) - id_timestamp(before) == timedelta(milliseconds=1)


def test_id_timestamp_of_generated_id(frozen_ms: list[int]) -> None:
    assert id_timestamp(new_id("ord")) == datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def test_id_timestamp_matches_ulid_spec_vector() -> None:
    # The ULID spec's example: timestamp 1469918176385 encodes as 01ARYZ6S41.
    expected = datetime(2016, 7, 30, 22, 36, 16, 385_000, tzinfo=UTC)
    assert id_timestamp("ord_01ARYZ6S41TSV4RRFFQ69G5FAV") == expected


def test_id_timestamp_is_utc_aware() -> None:
    assert id_timestamp(new_id("usr")).tzinfo is UTC


@pytest.mark.parametrize(
    "prefix", ["a", "abcdefghi", "", "Ord", "ORD", "or1", "o_r", "ördr", "ord "]
)
def test_prefix_validation(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id(prefix)


def test_prefix_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["ab", "abcdefgh", "ord"])
def test_prefix_bounds_accepted(prefix: str) -> None:
    assert new_id(prefix).startswith(prefix + "_")


@pytest.mark.parametrize(
    "value",
    [
        "ord",
        "ord_",
        "01ARYZ6S41TSV4RRFFQ69G5FAV",
        "ORD_01ARYZ6S41TSV4RRFFQ69G5FAV",
        "ord_01aryz6s41tsv4rrffq69g5fav",
        "ord_01ARYZ6S41TSV4RRFFQ69G5FA",
        "ord_01ARYZ6S41TSV4RRFFQ69G5FAVX",
        "ord_81ARYZ6S41TSV4RRFFQ69G5FAV",  # > 128 bits
        "ord_01ARYZ6S41TSV4RRFFQ69G5FAI",  # I is not Crockford
        "ord_01ARYZ6S41TSV4RRFFQ69G5FAV\n",
        "a_01ARYZ6S41TSV4RRFFQ69G5FAV",
    ],
)
def test_id_timestamp_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError, match="not a valid id"):
        id_timestamp(value)


def test_id_timestamp_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="not a valid id"):
        id_timestamp(42)  # type: ignore[arg-type]


# --- clock --------------------------------------------------------------------------


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert now.utcoffset() == timedelta(0)


def test_ensure_utc_treats_naive_as_utc() -> None:
    naive = datetime(2030, 1, 2, 3, 4, 5)
    assert ensure_utc(naive) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ensure_utc(naive).tzinfo is UTC


def test_ensure_utc_converts_aware() -> None:
    plus_two = datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    converted = ensure_utc(plus_two)
    assert converted.tzinfo is UTC
    assert converted.replace(tzinfo=None) == datetime(2030, 1, 2, 3, 4, 5)


def test_ensure_utc_keeps_utc() -> None:
    value = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ensure_utc(value) == value
    assert ensure_utc(value).tzinfo is UTC


@given(value=st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_an_id_body_is_the_value_in_crockford_base32_digit_by_digit(value: int) -> None:
    digits = []
    rest = value
    for _ in range(26):
        digits.append("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[rest & 0x1F])
        rest >>= 5
    assert ids._encode(value) == "".join(reversed(digits))


def _digit_by_digit(value: int) -> str:
    digits = []
    for _ in range(26):
        digits.append("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[value & 0x1F])
        value >>= 5
    return "".join(reversed(digits))


@given(
    ms=st.integers(min_value=0, max_value=(1 << 48) - 1),
    randoms=st.lists(st.integers(min_value=0, max_value=(1 << 80) - 1), min_size=2, max_size=5),
)
def test_ids_of_one_millisecond_share_its_characters_and_differ_in_the_rest(
    ms: int, randoms: list[int]
) -> None:
    # The time's ten characters are kept for the millisecond: the later ids of it reuse them.
    for random_part in randoms:
        value = (ms << 80) | random_part
        assert ids._encode(value) == _digit_by_digit(value)
