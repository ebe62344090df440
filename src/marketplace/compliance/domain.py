"""Pure audit-log rules: what changed (with secrets masked), and how entries are hash-chained.

No I/O and no framework here. `diff` turns before/after snapshots into the stored `changes`;
`entry_hash` and `chain` define the tamper-evident chain that `service.verify_chain` walks.

The hash of an entry is SHA-256 (hex) over the canonical JSON of every stored field except
`hash` itself (so including `seq` and `prev_hash`): keys sorted, no whitespace, UTF-8,
datetimes as RFC 3339 UTC with microseconds (`2026-01-02T03:04:05.000006Z`). The first entry's
`prev_hash` is `GENESIS_HASH`. Anyone with read access to the table can re-verify it with
those rules alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any, Final, Literal
from uuid import UUID

__all__ = [
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "MASK_PREFIX",
    "REDACTED",
    "AuditFilters",
    "BrokenEntry",
    "ChainVerification",
    "FieldChange",
    "PendingEntry",
    "canonical_json",
    "chain",
    "diff",
    "entry_hash",
    "mask",
]

GENESIS_HASH: Final = "0" * 64
REDACTED: Final = "[REDACTED]"
MASK_PREFIX: Final = "****"

# Every stored column except `hash`. A test keeps this equal to the table's columns, so a new
# column cannot silently escape the chain.
HASHED_FIELDS: Final = (
    "seq",
    "id",
    "occurred_at",
    "actor_id",
    "actor_role",
    "action",
    "resource_type",
    "resource_id",
    "changes",
    "request_id",
    "ip",
    "prev_hash",
)

FieldChange = dict[str, Any]  # {"before": <json>, "after": <json>}

# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------

# Key names are lower-cased and stripped of separators, then matched by substring, so
# "apiKey", "API-Key" and "stripe_api_key" all match "apikey". Masking a harmless
# "discard_reason" now and then is the accepted price of never storing a real secret.
_SECRET_PARTS: Final = ("password", "passwd", "secret", "token", "apikey", "cvc", "cvv")
# Identifiers that are sensitive but that people need to recognise ("the account ending 4321").
_ACCOUNT_PARTS: Final = (
    "iban",
    "accountnumber",
    "routingnumber",
    "walletid",
    "taxid",
    "card",
)
_KEY_NORMALIZE_RE: Final = re.compile(r"[^a-z0-9]")
_SEPARATORS_RE: Final = re.compile(r"[\s-]")

Sensitivity = Literal["secret", "account"] | None


def _sensitivity(key: str) -> Sensitivity:
    normalized = _KEY_NORMALIZE_RE.sub("", key.lower())
    # Secret wins: "card_cvc" must never show its last four digits.
    if any(part in normalized for part in _SECRET_PARTS):
        return "secret"
    if any(part in normalized for part in _ACCOUNT_PARTS):
        return "account"
    return None


def _stronger(a: Sensitivity, b: Sensitivity) -> Sensitivity:
    if "secret" in (a, b):
        return "secret"
    if "account" in (a, b):
        return "account"
    return None


def _last_four(value: object) -> str:
    compact = _SEPARATORS_RE.sub("", str(value))
    # A value of four characters or fewer would be revealed whole by its "last four".
    return MASK_PREFIX + compact[-4:] if len(compact) > 4 else MASK_PREFIX


def _mask(value: Any, sensitivity: Sensitivity) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, _stronger(sensitivity, _sensitivity(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(item, sensitivity) for item in value]
    # None stays None: that a secret was set or cleared is audit information, its value is not.
    if value is None or sensitivity is None:
        return value
    if sensitivity == "secret":
        return REDACTED
    return _last_four(value)


def mask(key: str, value: Any) -> Any:
    """`value` (already JSON-compatible) as it may be stored under `key`.

    Secrets become `[REDACTED]`; account-like identifiers `****` + their last four characters;
    inside a sensitive key everything nested is masked too; other nested keys by their names.
    """
    return _mask(value, _sensitivity(key))


# ---------------------------------------------------------------------------------------------
# JSON normalisation and canonical form
# ---------------------------------------------------------------------------------------------


def _rfc3339(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime in an audit entry; use aware UTC datetimes")
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    """`value` as plain JSON data that survives a database round trip unchanged.

    The stored `changes` must hash the same after being read back, so everything is reduced
    to str/int/float/bool/None/list/dict-with-str-keys here, once, before hashing.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        # NaN and infinities are not JSON; PostgreSQL's json type rejects them.
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, datetime):
        return _rfc3339(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        # Raw bytes are ciphertexts or blobs: their content is never audit information.
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=lambda item: canonical_json(item))
    if isinstance(value, Sequence):
        return [_jsonable(v) for v in value]
    raise TypeError(
        f"cannot record a {type(value).__name__} in the audit log; pass plain data "
        "(for a Pydantic model, its model_dump())"
    )


def _encode_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _rfc3339(value)
    raise TypeError(f"{type(value).__name__} is not allowed in a hashed audit entry")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, datetimes as RFC 3339 UTC; the bytes that get hashed."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_encode_default,
    ).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------------------------


def diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, FieldChange]:
    """The changed fields only, as `{field: {"before": .., "after": ..}}`, sensitive values masked.

    A field missing on one side counts as None. Values are compared by their canonical JSON,
    so a datetime in another time zone naming the same instant is no change, while 1 → 1.0 or
    True → 1 is. A changed secret shows as `[REDACTED]` → `[REDACTED]`: the fact of the change
    is recorded, its values are not.
    """
    old = _jsonable(before or {})
    new = _jsonable(after or {})
    changes: dict[str, FieldChange] = {}
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        if canonical_json(was) != canonical_json(now):
            changes[key] = {"before": mask(key, was), "after": mask(key, now)}
    return changes


# ---------------------------------------------------------------------------------------------
# The hash chain
# ---------------------------------------------------------------------------------------------


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 hex over the canonical JSON of `fields` (minus any `hash`) plus `prev_hash`."""
    payload = {k: v for k, v in fields.items() if k != "hash"}
    payload["prev_hash"] = prev_hash
    return hashlib.sha256(canonical_json(payload)).hexdigest()


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An audit entry recorded in a unit of work, not yet placed in the chain."""

    id: str
    occurred_at: datetime
    actor_id: str
    actor_role: str
    action: str
    resource_type: str
    resource_id: str
    changes: dict[str, FieldChange]
    request_id: str | None
    ip: str | None


def chain(
    entries: Sequence[PendingEntry], *, last_seq: int, last_hash: str
) -> tuple[list[dict[str, Any]], int, str]:
    """Place `entries`, in order, after the chain's tip (`last_seq`, `last_hash`).

    Returns the rows to store (every column, `hash` included) and the new tip. `seq` is given
    here rather than by the database so that it is gap-free and covered by the hash.
    """
    rows: list[dict[str, Any]] = []
    seq, prev_hash = last_seq, last_hash
    for entry in entries:
        seq += 1
        row: dict[str, Any] = {
            "seq": seq,
            "id": entry.id,
            "occurred_at": entry.occurred_at,
            "actor_id": entry.actor_id,
            "actor_role": entry.actor_role,
            "action": entry.action,
            "resource_type": entry.resource_type,
            "resource_id": entry.resource_id,
            "changes": entry.changes,
            "request_id": entry.request_id,
            "ip": entry.ip,
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = entry_hash(prev_hash, row)
        rows.append(row)
    return rows, seq, prev_hash


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """List filters; `occurred_from` is inclusive, `occurred_to` exclusive."""

    actor_id: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    action: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


BrokenReason = Literal["hash_mismatch", "broken_link", "head_mismatch"]


@dataclass(frozen=True, slots=True)
class BrokenEntry:
    """The first place the chain does not hold.

    `hash_mismatch`: the row's content no longer matches its hash (a field was changed).
    `broken_link`: the row's `prev_hash` is not the previous row's hash (a row before it was
    deleted, inserted or rewritten). `head_mismatch`: the chain does not end where the head
    says (rows were cut off the end); `seq` is the head's, `id` that row's if it exists.
    """

    seq: int
    id: str | None
    reason: BrokenReason


@dataclass(frozen=True, slots=True)
class ChainVerification:
    valid: bool
    checked: int
    first_broken: BrokenEntry | None = None
