"""What each /api/v1 view takes and answers, recorded where the view is defined
(@operation under its route decorator): the query, header and body models it
validates and, per status, the db/contract model it sends and why.
web/api/openapi.py builds the OpenAPI document from these records and the
blueprint's routes; nothing else describes the API.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from db import contract
from db.refusals import FieldError, SubmissionRejected

View = TypeVar("View", bound=Callable[..., Any])
Arguments = TypeVar("Arguments", bound=BaseModel)


@dataclass(frozen=True)
class Header:
    """A header an answer carries: its value's type, and whether it always does."""

    type: Any
    description: str
    required: bool = True


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: the operation (a view's name) that this answer's body gives
    parameters to, e.g. {"job_id": "$response.body#/id"}."""

    view: str
    parameters: Mapping[str, str]


@dataclass(frozen=True)
class Answer:
    """One status of an operation: a JSON body of `model` (as it is sent), or a body
    of one of `media_types`: described by `model` as the text is read (an event
    stream), else bytes (files); or no body."""

    description: str
    model: type[BaseModel] | None = None
    media_types: tuple[str, ...] = ()
    headers: Mapping[str, Header] = field(default_factory=dict)
    # By name: what a client can do next with what this answer names.
    links: Mapping[str, Link] = field(default_factory=dict)


def links_to(views: tuple[str, ...], parameter: str, value: str) -> dict[str, Link]:
    """A link to each of these views, giving `parameter` this answer's `value` (a runtime expression)."""
    return {view: Link(view, {parameter: value}) for view in views}


@dataclass(frozen=True)
class Body:
    """A request body: `model` (a pydantic model, or the name of a schema openapi.py
    builds for this deployment, as SubmitRequest) in `media_type`; for multipart,
    the content types allowed in each file field."""

    model: type[BaseModel] | str
    media_type: str = "application/json"
    file_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    summary: str
    answers: Mapping[int, Answer]
    description: str | None = None
    query: type[BaseModel] | None = None
    # The request headers it reads, as a model whose fields' aliases are the header names.
    headers: type[BaseModel] | None = None
    body: Body | None = None


RETRY_AFTER = {"Retry-After": Header(int, "seconds to wait")}


def error(description: str, headers: Mapping[str, Header] | None = None) -> Answer:
    return Answer(description, contract.Error, headers=headers or {})


# Every operation can answer these: no or a bad key, over the key's rate.
COMMON_ANSWERS = {
    401: error("missing, unknown or revoked API key (the same answer for each)"),
    429: error("over this key's requests per minute, or a job limit (see the code)", RETRY_AFTER),
}


def arguments_of(model: type[Arguments], values: Mapping[str, Any], prefix: str | None = None) -> Arguments:
    """Query arguments or headers (`values`) as the operation's `model`; a 422 naming
    the argument (after `prefix`, e.g. "headers") otherwise."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as invalid:
        # Arguments are flat: the first part of an error's location is the argument
        # (the rest names a branch of its type, e.g. "constrained-str").
        errors = [
            FieldError(".".join([*([prefix] if prefix else []), str(detail["loc"][0])]), detail["msg"])
            for detail in invalid.errors()
        ]
        raise SubmissionRejected("validation_error", errors) from None


# By endpoint ("api.<view name>").
OPERATIONS: dict[str, Operation] = {}


def operation(
    summary: str,
    answers: Mapping[int, Answer],
    *,
    description: str | None = None,
    query: type[BaseModel] | None = None,
    headers: type[BaseModel] | None = None,
    body: Body | None = None,
) -> Callable[[View], View]:
    """Record the view's operation; put it below the route decorator."""

    def record(view: View) -> View:
        OPERATIONS[f"api.{view.__name__}"] = Operation(summary, answers, description, query, headers, body)
        return view

    return record


DELETED = Answer("deleted: objects first, then rows")
