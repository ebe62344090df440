"""The HTTP boundary of a unit of work: one transaction per request, with idempotency.

`UnitOfWorkMiddleware` gives every request a `UnitOfWork` (handlers get it with `UoW`),
and commits it *before the response starts*: when a client has the response, the change is
durable and visible to every other connection. A request that raised, or whose error handler
marked it failed, is rolled back. For a POST with `Idempotency-Key` the response is buffered
and stored in the same transaction as the change (see `idempotency.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.platform.crypto import FieldCipher
from marketplace.platform.errors import BadRequest, problem_response
from marketplace.platform.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyStore,
    Reservation,
    StoredResponse,
    fingerprint,
)
from marketplace.platform.readcache import ReadCache
from marketplace.platform.uow import UnitOfWork, UnitOfWorkFactory

ScopeResolver = Callable[[Scope], Awaitable[str | None]]

NEVER_REPLAY = "idempotency.never_replay"


def never_replay(uow: UnitOfWork) -> None:
    """This request's response must not be stored for Idempotency-Key replays: anonymous
    keys are scoped by the request alone, so a stored answer carrying a secret (a guest
    cart's token) would be handed to anyone sending the same key and body."""
    uow.extras[NEVER_REPLAY] = True


async def default_scope(scope: Scope) -> str | None:
    """Whose keys these are. Identity installs a resolver that returns the principal id;
    without credentials there is no owner, and the key is scoped by the request itself."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return "cred:" + hashlib.sha256(value).hexdigest()
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class UnitOfWorkMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        uow_factory: UnitOfWorkFactory,
        idempotency: IdempotencyStore,
        scope_resolver: ScopeResolver = default_scope,
        max_body_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.uow_factory = uow_factory
        self.idempotency = idempotency
        self.scope_resolver = scope_resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        client = scope.get("client")
        uow = self.uow_factory(
            request_id=state.get("request_id"), client_ip=client[0] if client else None
        )
        state["uow"] = uow
        try:
            key = _header(scope, b"idempotency-key")
            if scope["method"] == "POST" and key is not None:
                await self._idempotent(scope, receive, send, uow, key)
            else:
                await self._plain(scope, receive, send, uow)
        finally:
            await uow.close()

    async def _plain(self, scope: Scope, receive: Receive, send: Send, uow: UnitOfWork) -> None:
        finished = False

        async def send_after_commit(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.start" and not finished:
                finished = True
                if uow.rollback_only or message["status"] >= 500:
                    await uow.rollback()
                else:
                    await uow.commit()
            await send(message)

        try:
            await self.app(scope, receive, send_after_commit)
        except BaseException:
            if not finished:
                await uow.rollback()
            raise

    async def _idempotent(
        self, scope: Scope, receive: Receive, send: Send, uow: UnitOfWork, key: str
    ) -> None:
        if not key or len(key) > MAX_KEY_LENGTH:
            response = problem_response(
                400,
                "invalid_idempotency_key",
                detail=f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
            )
            await response(scope, receive, send)
            return
        body = await _read_body(receive, limit=self.max_body_bytes)
        if body is None:
            # Buffering is what makes replay possible; it must not become a memory bomb.
            response = problem_response(
                413,
                "payload_too_large",
                detail=f"with an Idempotency-Key a body may have {self.max_body_bytes} bytes",
            )
            await response(scope, receive, send)
            return
        digest = fingerprint(
            scope["method"], scope["path"], scope.get("query_string", b"").decode(), body
        )
        owner = await self.scope_resolver(scope) or f"anon:{digest}"
        reservation: Reservation | None = None
        if self.idempotency.reserves_in_request:
            # First in the request's own transaction (see `idempotency`); a key already
            # taken is left to `reserve`, which says by what.
            reservation = await self.idempotency.reserve_in(
                uow.session, scope=owner, key=key, fingerprint=digest
            )
        if reservation is None:
            reservation = await self.idempotency.reserve(scope=owner, key=key, fingerprint=digest)
        if reservation.outcome != "reserved":
            await _answer_without_running(reservation, scope, receive, send)
            return
        assert reservation.record_id is not None
        assert reservation.lock_token is not None

        start: Message | None = None
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, _replay_body(body), buffer)
        except BaseException:
            await uow.rollback()
            await self.idempotency.release(
                record_id=reservation.record_id, lock_token=reservation.lock_token
            )
            raise
        assert start is not None, "application sent no response"
        status = int(start["status"])
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
        payload = b"".join(chunks)
        if uow.extras.get(NEVER_REPLAY) and not uow.rollback_only and status < 500:
            # The answer is for this caller only (it hands out a secret): commit the change,
            # free the key, and let a retry run again rather than replay it to whoever sends
            # the same key and body.
            await uow.commit()
            await self.idempotency.release(
                record_id=reservation.record_id, lock_token=reservation.lock_token
            )
        elif uow.rollback_only or status >= 500:
            await uow.rollback()
            await self.idempotency.release(
                record_id=reservation.record_id, lock_token=reservation.lock_token
            )
        else:
            stored = await self.idempotency.complete(
                uow.session,
                record_id=reservation.record_id,
                lock_token=reservation.lock_token,
                response=StoredResponse(status, headers, payload),
            )
            if not stored:
                # Our lease expired and a retry took the key over; it owns the outcome.
                await uow.rollback()
                await _in_progress(scope, receive, send)
                return
            await uow.commit()
        await send(start)
        await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _read_body(receive: Receive, *, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it exceeds `limit` bytes."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            break
    return b"".join(chunks)


def _replay_body(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _in_progress(scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(
        409,
        "idempotency_request_in_progress",
        title="Request in progress",
        detail="a request with this Idempotency-Key is still being processed; retry later",
        headers={"Retry-After": "1"},
    )
    await response(scope, receive, send)


async def _answer_without_running(
    reservation: Reservation, scope: Scope, receive: Receive, send: Send
) -> None:
    if reservation.outcome == "replay":
        assert reservation.response is not None
        stored = reservation.response
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers]
        headers.append((b"idempotent-replayed", b"true"))
        headers.append((b"content-length", str(len(stored.body)).encode()))
        await send({"type": "http.response.start", "status": stored.status, "headers": headers})
        await send({"type": "http.response.body", "body": stored.body, "more_body": False})
    elif reservation.outcome == "reused":
        response = problem_response(
            422,
            "idempotency_key_reused",
            title="Idempotency-Key reused",
            detail="this Idempotency-Key was used with a different request body",
        )
        await response(scope, receive, send)
    else:
        await _in_progress(scope, receive, send)


# Dependencies are coroutines even when they only look something up: FastAPI runs a plain
# function in a worker thread, a hop that costs more CPU than the lookup itself.
async def get_uow(request: Request) -> UnitOfWork:
    uow = request.scope.get("state", {}).get("uow")
    if not isinstance(uow, UnitOfWork):
        raise RuntimeError("UnitOfWorkMiddleware is not installed")
    return uow


UoW = Annotated[UnitOfWork, Depends(get_uow)]


async def require_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Required: retries with the same key never repeat the operation",
        ),
    ] = None,
) -> str:
    if not idempotency_key:
        raise BadRequest(
            "this operation requires an Idempotency-Key header",
            code="idempotency_key_required",
            title="Idempotency-Key required",
        )
    return idempotency_key


IdempotencyKeyRequired = Annotated[str, Depends(require_idempotency_key)]


async def get_cipher(request: Request) -> FieldCipher:
    """The process's field cipher (`app.state.cipher`), for handlers that encrypt fields."""
    cipher = getattr(request.app.state, "cipher", None)
    if not isinstance(cipher, FieldCipher):
        raise RuntimeError("no field cipher configured on this app")
    return cipher


Cipher = Annotated[FieldCipher, Depends(get_cipher)]


async def get_read_cache(request: Request) -> ReadCache:
    cache: ReadCache = request.app.state.read_cache
    return cache


ReadCacheDep = Annotated[ReadCache, Depends(get_read_cache)]
