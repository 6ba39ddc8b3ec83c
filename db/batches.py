"""Which jobs may share one pipeline call (a cross-job GPU batch): the batch key.

Defined once, here, for the claim (db/claims.py, as an SQL condition) and the
worker (as a value): two jobs share a key when their kind, model and every
param that shapes the pipeline call agree; prompts, seeds and image counts may
differ (a negative prompt may differ, but not whether there is one). Reads the params as stored (the spec's full dump). Never imports torch.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func

from db.models import Job


class NonEmpty:
    """Compared by whether the param is a non-empty string, not by its value."""


# The kinds whose jobs can be batched, and for each the params (paths into the
# stored JSON, with the type they are compared as) that must agree.
BATCHED_PARAMS: dict[str, dict[tuple[str, ...], type]] = {
    "generate": {
        # Prompts may differ, but not whether there is a negative one: SDXL-style
        # pipelines use zeros for a job without one and would give that job other
        # images in a batch with a job that has one.
        ("negative_prompt",): NonEmpty,
        ("adapter", "id"): str,
        ("adapter", "scale"): float,
        ("width",): int,
        ("height",): int,
        ("steps",): int,
        ("scheduler",): str,
        ("guidance_scale",): float,
    },
}


@dataclass(frozen=True)
class BatchKey:
    kind: str
    model: str
    # The value at each of the kind's BATCHED_PARAMS paths, in order (None: absent or null).
    params: tuple[Any, ...]


def batch_key(kind: str, model: str, params: dict[str, Any]) -> BatchKey | None:
    """The key of a job with these kind, model and params; None for a kind that is never batched."""
    paths = BATCHED_PARAMS.get(kind)
    if paths is None:
        return None
    return BatchKey(kind, model, tuple(_value_at(params, path, as_type) for path, as_type in paths.items()))


def job_batch_key(job: Job) -> BatchKey | None:
    return batch_key(job.kind, job.model, job.params)


def batch_images(params: dict[str, Any]) -> int:
    """The images a job adds to its batch's pipeline call."""
    return int(params.get("num_images") or 1)


def has_batch_key(key: BatchKey) -> ColumnElement[bool]:
    """SQL: the job's row has this batch key (NULL equals NULL, as in batch_key)."""
    paths = BATCHED_PARAMS[key.kind]
    return and_(
        Job.kind == key.kind,
        Job.model == key.model,
        *(
            _column_at(path, as_type).is_not_distinct_from(value)
            for (path, as_type), value in zip(paths.items(), key.params, strict=True)
        ),
    )


def _value_at(params: dict[str, Any], path: tuple[str, ...], as_type: type) -> Any:
    value: Any = params
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    if as_type is NonEmpty:
        return bool(value)
    return None if value is None else as_type(value)


def _column_at(path: tuple[str, ...], as_type: type) -> ColumnElement:
    element = Job.params[path] if len(path) > 1 else Job.params[path[0]]
    if as_type is NonEmpty:
        return func.coalesce(element.as_string(), "") != ""
    if as_type is int:
        return element.as_integer()
    if as_type is float:
        return element.as_float()
    return element.as_string()
