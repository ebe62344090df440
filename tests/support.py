"""Helpers shared by tests: service URLs that fail loudly in CI, and a probe router.

The probe router gives platform tests real endpoints that write through the unit of work
(an outbox event per call), so "how many times did this run" is a row count.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import pytest
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from marketplace.platform.errors import Conflict
from marketplace.platform.http import IdempotencyKeyRequired, UoW
from marketplace.platform.messaging import Event
from marketplace.platform.models import OutboxMessage
from marketplace.platform.pagination import Page, PageQuery, SortKey, paginate

IN_CI = os.environ.get("CI", "").lower() == "true"


def service_url(env_var: str) -> str:
    """The URL of a service a test needs; skip locally, fail in CI, when it is missing."""
    url = os.environ.get(env_var)
    if not url:
        message = f"{env_var} is not set"
        if IN_CI:
            pytest.fail(f"{message}: CI must run every service test", pytrace=False)
        pytest.skip(message)
    return url


class NoteWritten(Event):
    name = "tests.note_written.v1"
    text: str


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)


class NoteOut(BaseModel):
    message_id: str
    text: str


class MessageOut(BaseModel):
    id: str
    name: str


def probe_router(
    gate: asyncio.Event | None = None, entered: asyncio.Event | None = None
) -> APIRouter:
    router = APIRouter(prefix="/probe", tags=["probe"])

    @router.post("/notes", status_code=201)
    async def write_note(body: NoteIn, uow: UoW) -> NoteOut:
        if entered is not None:
            entered.set()
        if gate is not None:
            await gate.wait()
        message_id = uow.publish(NoteWritten(text=body.text))
        return NoteOut(message_id=message_id, text=body.text)

    @router.post("/required-notes", status_code=201)
    async def write_note_with_key(body: NoteIn, uow: UoW, key: IdempotencyKeyRequired) -> NoteOut:
        message_id = uow.publish(NoteWritten(text=body.text))
        return NoteOut(message_id=message_id, text=body.text)

    @router.post("/failing-notes")
    async def fail_after_write(body: NoteIn, uow: UoW) -> NoteOut:
        uow.publish(NoteWritten(text=body.text))
        await uow.flush()
        raise Conflict("the note conflicts", code="note_conflict")

    @router.post("/crashing-notes")
    async def crash_after_write(body: NoteIn, uow: UoW) -> NoteOut:
        uow.publish(NoteWritten(text=body.text))
        await uow.flush()
        raise RuntimeError("secret internal detail")

    @router.get("/messages")
    async def list_messages(
        uow: UoW, page: PageQuery, name: Annotated[str | None, Query()] = None
    ) -> Page[MessageOut]:
        stmt = select(OutboxMessage)
        if name:
            stmt = stmt.where(OutboxMessage.name == name)
        rows, cursor = await paginate(
            uow.session,
            stmt,
            keys=[SortKey(OutboxMessage.occurred_at, descending=True), SortKey(OutboxMessage.id)],
            params=page,
            cursor_of=lambda m: (m.occurred_at, m.id),
        )
        return Page(data=[MessageOut(id=m.id, name=m.name) for m in rows], next_cursor=cursor)

    return router


async def count_notes(session: AsyncSession | AsyncConnection) -> int:
    stmt = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.name == NoteWritten.name)
    )
    return int((await session.execute(stmt)).scalar_one())


class NoteHandled(Event):
    """Written by test handlers: one row per committed handler run."""

    name = "tests.note_handled.v1"
    source_message_id: str


async def count_handled(session: AsyncSession | AsyncConnection) -> int:
    stmt = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.name == NoteHandled.name)
    )
    return int((await session.execute(stmt)).scalar_one())
