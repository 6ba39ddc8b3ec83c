"""Which jobs may share one executor call (a cross-job GPU batch): the batch key.

Defined once, from each kind's Batching (db/kinds/), for the claim (db/claims.py,
as an SQL condition) and the worker (as a value): two jobs share a key when their
kind, model and every param that shapes the call agree; prompts, seeds and image
counts may differ. Reads the params as stored (the spec's full dump). Never
imports torch.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func

from db.kinds import find_kind
from db.kinds.definition import Batching, NonEmpty
from db.models import Job


@dataclass(frozen=True)
class BatchKey:
    kind: str
    model: str
    # The value at each of the kind's batching params, in order (None: absent or null).
    params: tuple[Any, ...]


def _batching(kind: str) -> Batching | None:
    found = find_kind(kind)
    return None if found is None else found.batching


def batch_key(kind: str, model: str, params: dict[str, Any]) -> BatchKey | None:
    """The key of a job with these kind, model and params; None for a kind that is never batched."""
    batching = _batching(kind)
    if batching is None:
        return None
    return BatchKey(kind, model, tuple(_value_at(params, path, as_type) for path, as_type in batching.params.items()))


def job_batch_key(job: Job) -> BatchKey | None:
    return batch_key(job.kind, job.model, job.params)


def batch_images(kind: str, params: dict[str, Any]) -> int:
    """The items (images) a job adds to its batch's call."""
    batching = _batching(kind)
    return 1 if batching is None else int(params.get(batching.size) or 1)


def has_batch_key(key: BatchKey) -> ColumnElement[bool]:
    """SQL: the job's row has this batch key (NULL equals NULL, as in batch_key)."""
    batching = _batching(key.kind)
    assert batching is not None, "a BatchKey is only made for a batched kind"
    return and_(
        Job.kind == key.kind,
        Job.model == key.model,
        *(
            _column_at(path, as_type).is_not_distinct_from(value)
            for (path, as_type), value in zip(batching.params.items(), key.params, strict=True)
        ),
    )


def _value_at(params: dict[str, Any], path: tuple[str | int, ...], as_type: type) -> Any:
    value: Any = params
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and step < len(value) else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    if as_type is NonEmpty:
        return bool(value)
    return None if value is None else as_type(value)


def _column_at(path: tuple[str | int, ...], as_type: type) -> ColumnElement[Any]:
    element = Job.params[path] if len(path) > 1 else Job.params[path[0]]
    column: ColumnElement[Any]
    if as_type is NonEmpty:
        column = func.coalesce(element.as_string(), "") != ""
    elif as_type is int:
        column = element.as_integer()
    elif as_type is float:
        column = element.as_float()
    else:
        column = element.as_string()
    return column
