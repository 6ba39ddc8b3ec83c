"""Query arguments of the API's lists (limit, cursor, filters) as pydantic models,
and the owner's page they select; one behaviour for /jobs, /datasets and /adapters."""

from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from db.kinds import job_kinds, list_kind_names
from db.models import JobStatus
from web.api.errors import ApiError
from web.api.operations import arguments_of
from web.context import current_owner, db_session
from web.paging import CURSOR_PATTERN, InvalidCursor, Page, Row, page_of

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

Query = TypeVar("Query", bound=BaseModel)


class PageQuery(BaseModel):
    # Other arguments are ignored, as a browser's or a proxy's may be added.
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    # Its shape is checked by web.paging (a 400, as for any cursor this API did not hand out).
    cursor: str | SkipJsonSchema[None] = Field(
        default=None,
        description="the next_cursor of the page before",
        json_schema_extra={"pattern": CURSOR_PATTERN},
    )


class JobsQuery(PageQuery):
    status: JobStatus | SkipJsonSchema[None] = None
    # One of db.kinds.job_kinds() (kinds may be added at start-up; the document lists them).
    kind: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=list_kind_names)

    @field_validator("kind")
    @classmethod
    def _a_known_kind(cls, kind: str | None) -> str | None:
        if kind is not None and kind not in job_kinds():
            raise ValueError(f"must be one of {', '.join(job_kinds())}")
        return kind


def query_of(model: type[Query]) -> Query:
    """The request's query arguments as `model`; a 422 naming the argument otherwise."""
    return arguments_of(model, request.args.to_dict())


def owned_page(list_rows: Callable[..., list[Row]], query: PageQuery, **filters: Any) -> Page[Row]:
    """The page the query selects (its limit and cursor) of the current owner's rows."""
    try:
        if query.cursor == "":
            raise InvalidCursor(query.cursor)
        return page_of(
            list_rows, db_session(), owner=current_owner(), limit=query.limit, cursor=query.cursor, **filters
        )
    except InvalidCursor:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API handed out") from None
