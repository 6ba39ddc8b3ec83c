"""Query arguments of the API's lists (limit, cursor, filters) and the owner's page
they select; one behaviour for /jobs, /datasets and /adapters."""

from collections.abc import Callable
from typing import Any

from flask import request

from web.api.errors import ApiError
from web.context import current_owner, db_session
from web.paging import InvalidCursor, Page, Row, page_of

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def choice_argument(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    if value is not None and value not in choices:
        message = f"must be one of {', '.join(choices)}"
        raise ApiError(422, "validation_error", f"{name}: {message}", [{"field": name, "message": message}])
    return value


def _limit_argument() -> int:
    text = request.args.get("limit")
    if text is None:
        return DEFAULT_PAGE_SIZE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        message = f"must be an integer from 1 to {MAX_PAGE_SIZE}"
        raise ApiError(422, "validation_error", f"limit: {message}", [{"field": "limit", "message": message}])
    return int(text)


def owned_page(list_rows: Callable[..., list[Row]], **filters: Any) -> Page[Row]:
    """The request's page (its limit and cursor) of the current owner's rows."""
    limit = _limit_argument()
    try:
        return page_of(
            list_rows, db_session(), owner=current_owner(), limit=limit, cursor=request.args.get("cursor"), **filters
        )
    except InvalidCursor:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API handed out") from None
