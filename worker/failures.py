"""The ways a job can fail, as the (error code, message) pair its row records
(db.failures.FailureCode says which codes are worth another attempt).

Messages are for the job's owner: one line, the exception's type and text, never
a traceback (that goes to the worker's log) and never longer than MESSAGE_LIMIT.
"""

import re
from typing import TypeVar

import torch
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as StorageConnectionError
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import BaseModel, ValidationError

from db.failures import FailureCode
from db.session import is_database_outage

MESSAGE_LIMIT = 500


class JobFailure(Exception):
    """A failure with a known cause; `code` (a db.failures.FailureCode) is what API
    clients branch on."""

    def __init__(self, code: FailureCode | str, message: str) -> None:
        super().__init__(message)
        self.code = FailureCode(code)


def describe_failure(error: Exception) -> tuple[FailureCode, str]:
    if isinstance(error, JobFailure):
        return error.code, _one_line(str(error))
    if isinstance(error, torch.OutOfMemoryError):
        return FailureCode.OOM, "the accelerator ran out of memory; try fewer or smaller images"
    if isinstance(error, SoftTimeLimitExceeded):
        return FailureCode.TIME_LIMIT, "the job ran past its time limit"
    if is_database_outage(error):
        return FailureCode.DATABASE_UNAVAILABLE, _one_line(f"the database did not answer: {error}")
    if _is_storage_outage(error):
        return FailureCode.STORAGE_UNAVAILABLE, _one_line(f"object storage did not answer: {error}")
    return FailureCode.EXECUTION_ERROR, _one_line(f"{type(error).__name__}: {error}")


def is_retryable(code: str) -> bool:
    """Whether a failure with this code is worth another attempt (FailureCode.retryable)."""
    known = FailureCode.of(code)
    return known is not None and known.retryable


def is_transient(error: BaseException) -> bool:
    """A connection to the database or to storage failed: the same call may succeed in a moment."""
    return is_database_outage(error) or _is_storage_outage(error)


def _is_storage_outage(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500
    return isinstance(error, StorageConnectionError | HTTPClientError | ConnectionError | TimeoutError)


# An absolute path of two or more parts (not the path of a URL): the worker's
# file layout is none of the job owner's business.
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])/(?:[^\s/'\"]+/)+[^\s'\",;)]*")


def _one_line(message: str) -> str:
    flat = ABSOLUTE_PATH.sub("<path>", " ".join(message.split()))
    return flat if len(flat) <= MESSAGE_LIMIT else flat[: MESSAGE_LIMIT - 1] + "…"


SpecT = TypeVar("SpecT", bound=BaseModel)


def parse_params(spec_type: type[SpecT], params: dict, kind: str) -> SpecT:
    """A job's stored params re-read with its kind's spec; JobFailure("invalid_params")
    when they do not fit it (a row written by another version, or by hand)."""
    try:
        return spec_type.model_validate(params)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc'])) or 'params'}: {problem['msg']}" for problem in error.errors()
        )
        raise JobFailure(FailureCode.INVALID_PARAMS, f"invalid {kind} params: {problems}") from error
