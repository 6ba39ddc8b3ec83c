"""Why a submitted job is refused: one exception hierarchy, raised wherever a
refusal is found (the spec, the model registry, a kind's references, the key's
limits, an Idempotency-Key) and only rendered by the JSON API, the compatible
APIs and the pages, each in its own shape. Nothing is written when one is raised.
"""

from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path in the request body, e.g. "params.width"
    message: str


def field_errors(error: ValidationError, prefix: str | None = None) -> list[FieldError]:
    """A pydantic error's failures as FieldErrors, `prefix` naming where the
    validated object sits in the request body (e.g. "params")."""
    errors = []
    for detail in error.errors():
        location = [prefix] if prefix else []
        location += [str(part) for part in detail["loc"]]
        # pydantic prefixes a validator's ValueError text with "Value error, ".
        message = detail["msg"].removeprefix("Value error, ")
        errors.append(FieldError(".".join(location) or "body", message))
    return errors


class Refusal(Exception):
    """A refused submission: the HTTP status the JSON API answers, a code clients
    branch on, a message for people, the fields at fault and headers to send."""

    status = 422

    def __init__(
        self,
        code: str,
        message: str,
        errors: list[FieldError] | None = None,
        *,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or []
        self.retry_after_seconds = retry_after_seconds

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after_seconds is None:
            return {}
        return {"Retry-After": str(self.retry_after_seconds)}


class SubmissionRejected(Refusal):
    """The request itself is wrong: invalid params, an unknown model or one of the
    wrong kind, a reference that does not fit (422)."""

    status = 422

    def __init__(self, code: str, errors: list[FieldError]) -> None:
        super().__init__(code, "; ".join(f"{error.field}: {error.message}" for error in errors), errors)


class ReferenceNotFound(Refusal):
    """The job names a dataset, adapter or upload that does not exist or is another
    owner's: the same answer for both (404), so ids cannot be probed."""

    status = 404

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(code, message, [FieldError(field, message)])

    @property
    def field(self) -> str:
        return self.errors[0].field


class QuotaExceeded(Refusal):
    """One more job would break a limit of the key in use (429, with Retry-After)."""

    status = 429

    def __init__(self, code: str, message: str, retry_after_seconds: int) -> None:
        super().__init__(code, message, retry_after_seconds=retry_after_seconds)


class IdempotencyKeyReused(Refusal):
    """The Idempotency-Key was used before with a different request body (422)."""

    status = 422
    MESSAGE = "was used before with a different request body; use a new key for a new job"

    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused",
            f"Idempotency-Key: {self.MESSAGE}",
            [FieldError("headers.Idempotency-Key", self.MESSAGE)],
        )
