"""Audit domain rules: changed fields with secrets masked, and the hash chain's canonical form."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.compliance.domain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    PendingEntry,
    canonical_json,
    chain,
    diff,
    entry_hash,
)
from marketplace.compliance.models import AuditLogEntry

AT = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


class Status(Enum):
    ACTIVE = "active"


# --- diff -----------------------------------------------------------------------------------


def test_diff_keeps_only_changed_fields_sorted_by_name() -> None:
    before = {"status": "pending", "name": "Acme", "rating": 4, "note": None}
    after = {"status": "approved", "name": "Acme", "rating": 5, "tags": ["a"]}

    assert diff(before, after) == {
        "rating": {"before": 4, "after": 5},
        "status": {"before": "pending", "after": "approved"},
        "tags": {"before": None, "after": ["a"]},
    }
    assert list(diff(before, after)) == ["rating", "status", "tags"]


def test_diff_of_a_creation_and_of_a_deletion() -> None:
    assert diff(None, {"name": "Acme", "empty": None}) == {
        "name": {"before": None, "after": "Acme"}
    }
    assert diff({"role": "staff"}, None) == {"role": {"before": "staff", "after": None}}
    assert diff(None, None) == {}
    assert diff({"a": 1}, {"a": 1}) == {}


def test_diff_compares_canonical_json_values() -> None:
    in_paris = AT.astimezone(timezone(timedelta(hours=1)))

    # The same instant in another zone is no change; a type change that JSON shows is one.
    assert diff({"at": AT}, {"at": in_paris}) == {}
    assert diff({"n": 1, "flag": 1}, {"n": 1.0, "flag": True}) == {
        "flag": {"before": 1, "after": True},
        "n": {"before": 1, "after": 1.0},
    }


def test_diff_stores_plain_json_for_rich_values() -> None:
    before = {
        "at": AT,
        "day": date(2026, 1, 2),
        "price": Decimal("10.50"),
        "status": Status.ACTIVE,
        "codes": ("x", "y"),
        "ids": {3: "c"},
        "blob": b"\x00\x01\x02",
        "ratio": float("nan"),
    }

    assert diff(None, before) == {
        "at": {"before": None, "after": "2026-01-02T03:04:05.000006Z"},
        "blob": {"before": None, "after": "<3 bytes>"},
        "codes": {"before": None, "after": ["x", "y"]},
        "day": {"before": None, "after": "2026-01-02"},
        "ids": {"before": None, "after": {"3": "c"}},
        "price": {"before": None, "after": "10.50"},
        "ratio": {"before": None, "after": "nan"},
        "status": {"before": None, "after": "active"},
    }


def test_diff_refuses_values_it_cannot_store_faithfully() -> None:
    with pytest.raises(TypeError, match="cannot record a object"):
        diff(None, {"thing": object()})
    with pytest.raises(ValueError, match="naive datetime"):
        diff(None, {"at": datetime(2026, 1, 2)})


# --- masking --------------------------------------------------------------------------------


def test_secrets_are_redacted_and_account_numbers_show_their_last_four() -> None:
    before = {
        "password": "old-Secret-1",
        "password_hash": "$argon2id$v=19$aaaa",
        "client_secret": "sk_live_1",
        "refreshToken": "eyJabc",
        "API-Key": "mk_abcdefghijklmnop",
        "iban": "DE89 3704 0044 0532 0130 00",
        "account_number": "000123456789",
        "routing_number": "110000000",
        "wallet_id": "wal-77-8899",
        "tax_id": "12-3456789",
        "card_number": 4242424242424242,
        "card_cvc": "123",
    }
    after: dict[str, Any] = dict.fromkeys(before)

    assert diff(before, after) == {
        "API-Key": {"before": "[REDACTED]", "after": None},
        "account_number": {"before": "****6789", "after": None},
        "card_cvc": {"before": "[REDACTED]", "after": None},
        "card_number": {"before": "****4242", "after": None},
        "client_secret": {"before": "[REDACTED]", "after": None},
        "iban": {"before": "****3000", "after": None},
        "password": {"before": "[REDACTED]", "after": None},
        "password_hash": {"before": "[REDACTED]", "after": None},
        "refreshToken": {"before": "[REDACTED]", "after": None},
        "routing_number": {"before": "****0000", "after": None},
        "tax_id": {"before": "****6789", "after": None},
        "wallet_id": {"before": "****8899", "after": None},
    }


def test_a_changed_secret_is_recorded_as_changed_without_its_values() -> None:
    assert diff({"password": "one-Secret-1"}, {"password": "two-Secret-2"}) == {
        "password": {"before": "[REDACTED]", "after": "[REDACTED]"}
    }
    assert diff({"iban": "GB82WEST12345698765432"}, {"iban": "GB33BUKB20201555555555"}) == {
        "iban": {"before": "****5432", "after": "****5555"}
    }


def test_short_account_values_are_masked_whole() -> None:
    assert diff(None, {"card_last4": "4242", "card_brand": "visa"}) == {
        "card_brand": {"before": None, "after": "****"},
        "card_last4": {"before": None, "after": "****"},
    }


def test_nested_values_are_masked_by_their_own_key_or_a_sensitive_parent() -> None:
    after = {
        "payout_account": {
            "holder": "Acme GmbH",
            "iban": "DE89370400440532013000",
            "bank": {"routing_number": "021000021", "name": "Chase"},
            "credentials": [{"api_key": "k1"}, {"api_key": "k2"}],
        },
        "card": {"number": "4000056655665556", "exp_month": 12, "cvc": "999", "token": None},
        "tags": ["x"],
        "secrets": ["aaaa1111", "bbbb2222"],
    }

    assert diff(None, after) == {
        "card": {
            "before": None,
            "after": {
                "number": "****5556",
                "exp_month": "****",
                "cvc": "[REDACTED]",
                "token": None,
            },
        },
        "payout_account": {
            "before": None,
            "after": {
                "holder": "Acme GmbH",
                "iban": "****3000",
                "bank": {"routing_number": "****0021", "name": "Chase"},
                "credentials": [{"api_key": "[REDACTED]"}, {"api_key": "[REDACTED]"}],
            },
        },
        "secrets": {"before": None, "after": ["[REDACTED]", "[REDACTED]"]},
        "tags": {"before": None, "after": ["x"]},
    }


# --- hashing --------------------------------------------------------------------------------


def _fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "seq": 1,
        "id": "aud_01JD3X5W0Q8ZP6M7R2K4T9B1CE",
        "occurred_at": AT,
        "actor_id": "usr_1",
        "actor_role": "admin",
        "action": "vendor.approved",
        "resource_type": "vendor",
        "resource_id": "vnd_1",
        "changes": {"status": {"before": "pending", "after": "approved"}},
        "request_id": "req-1",
        "ip": "203.0.113.7",
    }
    fields.update(overrides)
    return fields


def test_entry_hash_is_sha256_over_the_documented_canonical_json() -> None:
    expected_bytes = (
        '{"action":"vendor.approved","actor_id":"usr_1","actor_role":"admin",'
        '"changes":{"status":{"after":"approved","before":"pending"}},'
        '"id":"aud_01JD3X5W0Q8ZP6M7R2K4T9B1CE","ip":"203.0.113.7",'
        '"occurred_at":"2026-01-02T03:04:05.000006Z",'
        f'"prev_hash":"{GENESIS_HASH}","request_id":"req-1",'
        '"resource_id":"vnd_1","resource_type":"vendor","seq":1}'
    ).encode()

    assert canonical_json({**_fields(), "prev_hash": GENESIS_HASH}) == expected_bytes
    assert entry_hash(GENESIS_HASH, _fields()) == hashlib.sha256(expected_bytes).hexdigest()


def test_entry_hash_is_deterministic_and_ignores_a_stored_hash_and_the_zone() -> None:
    first = entry_hash(GENESIS_HASH, _fields())
    in_tokyo = AT.astimezone(timezone(timedelta(hours=9)))

    assert len(first) == 64
    assert int(first, 16) >= 0
    assert entry_hash(GENESIS_HASH, dict(reversed(list(_fields().items())))) == first
    assert entry_hash(GENESIS_HASH, _fields(hash="f" * 64)) == first
    assert entry_hash(GENESIS_HASH, _fields(occurred_at=in_tokyo)) == first


def test_chain_numbers_and_links_entries_after_the_tip() -> None:
    entries = [
        PendingEntry(
            id=f"aud_{n}",
            occurred_at=AT,
            actor_id="usr_1",
            actor_role="admin",
            action=f"thing.step_{n}",
            resource_type="thing",
            resource_id="thg_1",
            changes={},
            request_id=None,
            ip=None,
        )
        for n in (1, 2)
    ]

    rows, last_seq, last_hash = chain(entries, last_seq=41, last_hash="a" * 64)

    assert [(row["seq"], row["id"], row["prev_hash"]) for row in rows] == [
        (42, "aud_1", "a" * 64),
        (43, "aud_2", rows[0]["hash"]),
    ]
    assert rows[0]["hash"] == entry_hash("a" * 64, rows[0])
    assert rows[1]["hash"] == entry_hash(rows[0]["hash"], rows[1])
    assert (last_seq, last_hash) == (43, rows[1]["hash"])
    assert set(rows[0]) == {*HASHED_FIELDS, "hash"}
    assert chain([], last_seq=7, last_hash="b" * 64) == ([], 7, "b" * 64)


def test_every_stored_column_but_the_hash_is_hashed() -> None:
    columns = {column.name for column in AuditLogEntry.__table__.columns}
    assert columns == {*HASHED_FIELDS, "hash"}


_text = st.text(max_size=20)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_text, children, max_size=3),
    max_leaves=8,
)
_changes = st.dictionaries(
    _text, st.fixed_dictionaries({"before": _json, "after": _json}), max_size=3
)
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers(min_value=1, max_value=2**63 - 1),
    "id": _text,
    "occurred_at": st.datetimes(timezones=st.just(UTC)),
    "actor_id": _text,
    "actor_role": _text,
    "action": _text,
    "resource_type": _text,
    "resource_id": _text,
    "changes": _changes,
    "request_id": st.none() | _text,
    "ip": st.none() | _text,
    "prev_hash": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
}


@st.composite
def _entry_and_one_changed_field(draw: st.DrawFn) -> tuple[dict[str, Any], str, Any]:
    fields = {name: draw(strategy) for name, strategy in _FIELD_VALUES.items()}
    name = draw(st.sampled_from(HASHED_FIELDS))
    original = canonical_json(fields[name])
    new_value = draw(_FIELD_VALUES[name].filter(lambda value: canonical_json(value) != original))
    return fields, name, new_value


@given(_entry_and_one_changed_field())
def test_any_change_to_any_field_changes_the_hash(case: tuple[dict[str, Any], str, Any]) -> None:
    fields, name, new_value = case
    changed = {**fields, name: new_value}

    original_hash = entry_hash(fields["prev_hash"], fields)
    changed_hash = entry_hash(changed["prev_hash"], changed)

    assert changed_hash != original_hash
