"""Pages of an owner's rows (jobs, datasets, adapters), newest first, behind an
opaque cursor; shared by the JSON API and the HTML pages.

The cursor is base64url of the last row's (created_at, id); clients must treat
it as opaque, so its format may change without a new API version.
"""

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
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


def encode_cursor(row: PagedRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at_text, _, row_id_text = raw.partition("|")
        created_at = datetime.fromisoformat(created_at_text)
        row_id = uuid.UUID(row_id_text)
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        raise InvalidCursor(cursor) from None
    if created_at.tzinfo is None:
        raise InvalidCursor(cursor)
    return created_at, row_id


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
