"""The ways a job can fail, as the (error code, message) pair its row records.

Messages are for the job's owner: one line, the exception's type and text, never
a traceback (that goes to the worker's log) and never longer than MESSAGE_LIMIT.
"""

import torch
from celery.exceptions import SoftTimeLimitExceeded

MESSAGE_LIMIT = 500


class JobFailure(Exception):
    """A failure with a known cause; `code` is what API clients branch on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def describe_failure(error: Exception) -> tuple[str, str]:
    if isinstance(error, JobFailure):
        return error.code, _one_line(str(error))
    if isinstance(error, torch.OutOfMemoryError):
        return "out_of_memory", "the accelerator ran out of memory; try fewer or smaller images"
    if isinstance(error, SoftTimeLimitExceeded):
        return "time_limit_exceeded", "the job ran past the worker's time limit"
    return "execution_error", _one_line(f"{type(error).__name__}: {error}")


def _one_line(message: str) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= MESSAGE_LIMIT else flat[: MESSAGE_LIMIT - 1] + "…"
