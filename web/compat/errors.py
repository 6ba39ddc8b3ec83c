"""The compatible APIs' error shapes, OpenAI's `{"error": {"message", "type",
"param", "code"}}` and A1111's `{"error", "detail"}`, each with genq's code and a
message for the client; web/errors.py answers every failure under /v1 and
/sdapi in them, whatever raised it (a view, web.auth, the rate limiter, routing)."""

from typing import Any

from web.errors import HttpError

# OpenAI's SDK retries 408, 409, 429 and 5xx unless told not to: a retry of a
# compat call whose job was made would submit another job.
NO_RETRY_HEADERS = {"x-should-retry": "false"}


class CompatError(HttpError):
    """A compatible call's failure about its job (the wait, the job's end), which a
    retry would not mend; retry_after: seconds after which the same call may
    succeed, because nothing was made."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        headers = NO_RETRY_HEADERS if retry_after is None else {"Retry-After": str(retry_after)}
        super().__init__(status, code, message, headers=headers)


def openai_error_body(error: HttpError) -> dict[str, Any]:
    error_type = "invalid_request_error" if error.status < 500 else "server_error"
    param = error.details[0]["field"] if error.details else None
    return {"error": {"message": error.message, "type": error_type, "param": param, "code": error.code}}


def a1111_error_body(error: HttpError) -> dict[str, Any]:
    return {"error": error.code, "detail": error.message}
