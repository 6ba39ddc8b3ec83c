"""Pages of an owner's rows (jobs, datasets, adapters), newest first, behind an
opaque cursor; shared by the JSON API and the HTML pages.

The cursor is the last row's created_at (microseconds since the epoch) and id
(hex), `<digits>.<32 hex digits>`: every string of that shape is a place in the
list, so the API's document can say exactly which cursors it takes (CURSOR_PATTERN).
Clients must treat it as opaque, so its format may change without a new API version.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session


class InvalidCursor(ValueError):
    pass


class PagedRow(Protocol):
    id: uuid.UUID
    created_at: datetime


Row = TypeVar("Row", bound=PagedRow)


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    next_cursor: str | None  # None on the last page


# 16 digits of microseconds reach past the year 2200.
CURSOR_PATTERN = r"^[0-9]{1,16}\.[0-9a-f]{32}$"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def encode_cursor(row: PagedRow) -> str:
    return f"{(row.created_at - EPOCH) // MICROSECOND}.{row.id.hex}"


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    if not re.fullmatch(CURSOR_PATTERN, cursor, re.ASCII):
        raise InvalidCursor(cursor)
    microseconds, _, row_id = cursor.partition(".")
    return EPOCH + int(microseconds) * MICROSECOND, uuid.UUID(hex=row_id)


def page_of(
    list_rows: Callable[..., list[Row]],
    session: Session,
    *,
    owner: str,
    limit: int,
    cursor: str | None = None,
    **filters: Any,
) -> Page[Row]:
    """A page of `list_rows` (a db/ lister taking owner, before, limit and the filters);
    raises InvalidCursor for a cursor this module did not make."""
    before = decode_cursor(cursor) if cursor else None
    # One row more than asked tells whether another page exists, so the last
    # page never hands out a cursor to an empty one.
    rows = list_rows(session, owner=owner, before=before, limit=limit + 1, **filters)
    if len(rows) <= limit:
        return Page(rows, None)
    return Page(rows[:limit], encode_cursor(rows[limit - 1]))
