"""Keyset pagination over (created_at, id): stable under concurrent inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.base import TimestampedModel
from lumen.core.http.errors import LumenProblem

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "paginate"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

M = TypeVar("M", bound=TimestampedModel)


def _encode(row: TimestampedModel) -> str:
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, ident = raw.partition("|")
        return datetime.fromisoformat(created), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        # Well-formed text that names no position we issued: 422, like any unknown reference.
        raise LumenProblem(
            "cursor: not a cursor this API returned", slug="validation-error", status_code=422
        ) from None


async def paginate(
    session: AsyncSession, statement: Select[Any], model: type[M], *, cursor: str | None, limit: int
) -> tuple[Sequence[M], str | None]:
    if cursor:
        created, ident = _decode(cursor)
        statement = statement.where(tuple_(model.created_at, model.id) > tuple_(created, ident))
    statement = statement.order_by(model.created_at, model.id).limit(limit + 1)
    rows = list((await session.scalars(statement)).all())
    next_cursor = _encode(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor
