"""Cursor (keyset) pagination for every list endpoint.

A cursor encodes the sort-key values of the last row a client saw; the next page starts
strictly after them, so rows inserted or deleted meanwhile cause neither duplicates nor gaps
(unlike OFFSET). The ordering must end with a unique column (the id) to be total.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from marketplace.platform.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageQuery = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ordering column; `descending` applies to it alone."""

    column: InstrumentedAttribute[Any] | ColumnElement[Any]
    descending: bool = False


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"}:
        return datetime.fromisoformat(value["t"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = orjson.dumps([_encode_value(v) for v in values])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, expected: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise ValidationFailed.on_field(["query", "cursor"], "malformed cursor") from None
    if not isinstance(values, list) or len(values) != expected:
        raise ValidationFailed.on_field(["query", "cursor"], "cursor does not match this list")
    try:
        return [_decode_value(v) for v in values]
    except (TypeError, ValueError):
        raise ValidationFailed.on_field(["query", "cursor"], "malformed cursor") from None


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> Any:
    """(k1 > v1) OR (k1 = v1 AND k2 > v2) OR ... with per-column direction."""
    clauses = []
    for i, key in enumerate(keys):
        equal_prefix = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(and_(*equal_prefix, beyond))
    return or_(*clauses)


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    keys: Sequence[SortKey],
    params: PageParams,
    cursor_of: Callable[[Any], Sequence[Any]],
    rows: bool = False,
) -> tuple[list[Any], str | None]:
    """Run `stmt` one page at a time, ordered by `keys`.

    `cursor_of(item)` returns the item's values for `keys`, in order. Items are the first
    column's objects, or whole rows with `rows=True` (when a sort key is a computed column).
    """
    if params.cursor:
        stmt = stmt.where(_after(keys, decode_cursor(params.cursor, len(keys))))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    ordered = stmt.order_by(*order).limit(params.limit + 1)
    if rows:
        items: list[Any] = list((await session.execute(ordered)).all())
    else:
        items = list((await session.scalars(ordered)).all())
    next_cursor = None
    if len(items) > params.limit:
        items = items[: params.limit]
        next_cursor = encode_cursor(cursor_of(items[-1]))
    return items, next_cursor
