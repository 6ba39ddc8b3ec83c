"""Every way a job can fail, as the code its row records (`error.code`, which API
clients branch on), and what each code means to the platform: whether another
attempt may succeed (the worker retries it) and whether the failure is the
caller's doing (the compatible APIs answer 4xx for those, 5xx for the rest).
The README lists every code; a test keeps the two in step."""

from enum import StrEnum


class FailureCode(StrEnum):
    INVALID_PARAMS = "invalid_params"
    MODEL_NOT_FOUND = "model_not_found"
    MODEL_KIND_MISMATCH = "model_kind_mismatch"
    MODEL_LOAD_FAILED = "model_load_failed"
    UNSAFE_WEIGHTS = "unsafe_weights"
    UNSUPPORTED_KIND = "unsupported_kind"
    UNSUPPORTED_MODEL = "unsupported_model"
    ADAPTER_LOAD_FAILED = "adapter_load_failed"
    ADAPTER_MODEL_MISMATCH = "adapter_model_mismatch"
    OOM = "oom"
    TIME_LIMIT = "time_limit"
    WORKER_LOST = "worker_lost"
    DATABASE_UNAVAILABLE = "database_unavailable"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    EXECUTION_ERROR = "execution_error"

    @classmethod
    def of(cls, code: str | None) -> "FailureCode | None":
        """The code a row records, or None (no code, or one of another version)."""
        try:
            return None if code is None else cls(code)
        except ValueError:
            return None

    @property
    def retryable(self) -> bool:
        """Worth another attempt, possibly on another worker: a dependency that did
        not answer, a model that did not load here, an error nobody foresaw. The
        job's own faults (invalid params, too big for memory, too long) fail at once."""
        return self in _RETRYABLE

    @property
    def callers_fault(self) -> bool:
        """Caused by what the caller sent (its params, its adapter, the model it named)."""
        return self in _CALLERS_FAULT


_RETRYABLE = frozenset(
    {
        FailureCode.DATABASE_UNAVAILABLE,
        FailureCode.STORAGE_UNAVAILABLE,
        FailureCode.MODEL_LOAD_FAILED,
        FailureCode.EXECUTION_ERROR,
    }
)
_CALLERS_FAULT = frozenset(
    {
        FailureCode.INVALID_PARAMS,
        FailureCode.ADAPTER_LOAD_FAILED,
        FailureCode.ADAPTER_MODEL_MISMATCH,
        FailureCode.MODEL_KIND_MISMATCH,
    }
)
