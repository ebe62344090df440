"""Idempotency-Key records: reserve, replay, complete, release.

Follows the IETF Idempotency-Key draft and Stripe's behaviour:

* the first request with a key reserves it (a row, `in_progress`, with a lease). On
  PostgreSQL the row is written first in the request's own transaction and commits with it
  (`reserve_in`), so the request spends no transaction of its own on the key; until that
  commit the key is held by a transaction-level advisory lock, which a duplicate tries
  without waiting. Elsewhere (SQLite, one writer at a time, where holding the write lock for
  the whole request would block the separate sessions some requests open) the row is
  committed on its own first (`reserve`);
* the same key and body after completion replays the stored response (24 h);
* the same key with another body answers 422 `idempotency_key_reused`;
* a duplicate while the first is still running answers 409 `idempotency_request_in_progress`;
* the stored response is written in the *same transaction* as the request's own changes,
  so "changed but not recorded" cannot happen; a crash mid-request leaves a reservation whose
  lease expires, after which a retry runs the request again (nothing of the first committed).
* a request that failed (error response, rolled back) releases its key so the client can retry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

import orjson
from sqlalchemy import BigInteger, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.platform import direct
from marketplace.platform.clock import utcnow
from marketplace.platform.db import Database, is_unique_violation
from marketplace.platform.ids import new_id
from marketplace.platform.models import IdempotencyKey

MAX_KEY_LENGTH = 255

# Headers a replay must not repeat: they describe the original transfer, not the resource.
_VOLATILE_HEADERS = {"content-length", "date", "server", "x-request-id", "transfer-encoding"}


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """Digest of what makes two requests "the same": method, target and the JSON body.

    JSON bodies are canonicalised (key order, whitespace) so that re-serialising the same
    object on retry is not mistaken for a different request.
    """
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Reservation:
    outcome: Literal["reserved", "replay", "reused", "in_progress"]
    record_id: str | None = None
    lock_token: str | None = None
    response: StoredResponse | None = None


# The two statements of every keyed request, built once (Core, on the table): building and
# flushing an ORM object or an UPDATE expression per request cost more CPU than running them.
_keys = cast(Table, IdempotencyKey.__table__)
_RESERVE = insert(_keys)
_COLUMNS = (
    "id",
    "scope",
    "key",
    "fingerprint",
    "status",
    "lock_token",
    "locked_until",
    "created_at",
    "expires_at",
)
# The row, written only if this transaction gets the key's advisory lock: a concurrent
# request with the same key that has not committed yet holds it, and a duplicate must hear
# "in progress" at once rather than wait on the unique index for the first to finish.
_RESERVE_LOCKED = insert(_keys).from_select(
    _COLUMNS,
    select(*(bindparam(f"new_{name}", type_=_keys.c[name].type) for name in _COLUMNS)).where(
        func.pg_try_advisory_xact_lock(bindparam("lock", type_=BigInteger))
    ),
)


def _advisory_lock(scope: str, key: str) -> int:
    """The key's advisory lock number: 64 bits of its digest (collisions are negligible, and
    would only answer "in progress" to a request that could retry)."""
    digest = hashlib.sha256(f"{len(scope)}:{scope}{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_COMPLETE = (
    update(_keys)
    .where(
        _keys.c.id == bindparam("record"),
        _keys.c.lock_token == bindparam("token"),
        _keys.c.status == "in_progress",
    )
    .values(status="completed")
)


class IdempotencyStore:
    def __init__(
        self,
        db: Database,
        *,
        ttl: timedelta = timedelta(hours=24),
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.lease = lease

    @property
    def reserves_in_request(self) -> bool:
        """Whether the key is reserved inside the request's transaction (`reserve_in`)."""
        return self.db.dialect == "postgresql"

    async def reserve_in(
        self, session: AsyncSession, *, scope: str, key: str, fingerprint: str
    ) -> Reservation | None:
        """Reserve the key first in `session`'s transaction, which the request commits.
        `in_progress` when a request with the key has not committed yet; None (and the
        transaction rolled back, having held nothing else) when the key's row exists:
        `reserve` then says what it holds."""
        row = self._new_row(scope=scope, key=key, fingerprint=fingerprint, now=utcnow())
        params: dict[str, Any] = {f"new_{name}": value for name, value in row.items()}
        params["lock"] = _advisory_lock(scope, key)
        try:
            written = (await direct.execute(session, _RESERVE_LOCKED, params)).rowcount
        except IntegrityError as error:
            await session.rollback()
            if not is_unique_violation(error):
                raise
            return None
        if written != 1:
            await session.rollback()
            return Reservation("in_progress")
        return Reservation("reserved", row["id"], row["lock_token"])

    def _new_row(self, *, scope: str, key: str, fingerprint: str, now: datetime) -> dict[str, Any]:
        return {
            "id": new_id("idk"),
            "scope": scope,
            "key": key,
            "fingerprint": fingerprint,
            "status": "in_progress",
            "lock_token": new_id("lck"),
            "locked_until": now + self.lease,
            "created_at": now,
            "expires_at": now + self.ttl,
        }

    async def reserve(self, *, scope: str, key: str, fingerprint: str) -> Reservation:
        # Two attempts: the second follows deleting an expired record that held the key.
        for _ in range(2):
            now = utcnow()
            row = self._new_row(scope=scope, key=key, fingerprint=fingerprint, now=now)
            token = row["lock_token"]
            async with self.db.session() as session:
                try:
                    await direct.execute(session, _RESERVE, row)
                    await session.commit()
                    return Reservation("reserved", row["id"], token)
                except IntegrityError as error:
                    await session.rollback()
                    if not is_unique_violation(error):
                        raise
                existing = await session.scalar(
                    select(IdempotencyKey).where(
                        IdempotencyKey.scope == scope, IdempotencyKey.key == key
                    )
                )
                if existing is None:
                    continue  # released between our insert and our read: try again
                if existing.expires_at <= now:
                    await session.execute(
                        delete(IdempotencyKey).where(
                            IdempotencyKey.id == existing.id,
                            IdempotencyKey.expires_at <= now,
                        )
                    )
                    await session.commit()
                    continue
                if existing.fingerprint != fingerprint:
                    return Reservation("reused", existing.id)
                if existing.status == "completed":
                    assert existing.response_status is not None
                    return Reservation(
                        "replay",
                        existing.id,
                        response=StoredResponse(
                            existing.response_status,
                            [(k, v) for k, v in existing.response_headers or []],
                            existing.response_body or b"",
                        ),
                    )
                if existing.locked_until > now:
                    return Reservation("in_progress", existing.id)
                # The first holder died mid-request (nothing of it committed): take over.
                taken = (
                    await session.execute(
                        update(IdempotencyKey)
                        .where(
                            IdempotencyKey.id == existing.id,
                            IdempotencyKey.lock_token == existing.lock_token,
                            IdempotencyKey.status == "in_progress",
                        )
                        .values(lock_token=token, locked_until=now + self.lease)
                    )
                ).rowcount  # type: ignore[attr-defined]
                await session.commit()
                if taken == 1:
                    return Reservation("reserved", existing.id, token)
                return Reservation("in_progress", existing.id)
        return Reservation("in_progress")

    async def complete(
        self,
        session: AsyncSession,
        *,
        record_id: str,
        lock_token: str,
        response: StoredResponse,
    ) -> bool:
        """Store the response inside the request's own transaction; False if we lost the lease."""
        headers = [
            [name, value]
            for name, value in response.headers
            if name.lower() not in _VOLATILE_HEADERS
        ]
        result = await direct.execute(
            session,
            _COMPLETE,
            {
                "record": record_id,
                "token": lock_token,
                "response_status": response.status,
                "response_headers": headers,
                "response_body": response.body,
            },
        )
        return result.rowcount == 1

    async def release(self, *, record_id: str, lock_token: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.id == record_id,
                    IdempotencyKey.lock_token == lock_token,
                    IdempotencyKey.status == "in_progress",
                )
            )
            await session.commit()

    async def purge_expired(self) -> int:
        async with self.db.session() as session:
            result = await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow())
            )
            await session.commit()
            return result.rowcount  # type: ignore[attr-defined,no-any-return]
