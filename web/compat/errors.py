"""A compatible endpoint's failure, rendered by each blueprint in its API's own
error shape (OpenAI's `{"error": {"message", "type", "param", "code"}}`, A1111's
`{"error", "detail"}`), with genq's code and a message for the client."""

from flask import Response

# OpenAI's SDK retries 408, 409, 429 and 5xx unless told not to: a retry of a
# compat call would submit another job.
NO_RETRY_HEADERS = {"x-should-retry": "false"}


class CompatError(Exception):
    """retry_after: seconds after which the same call may succeed (nothing was made)."""

    def __init__(
        self, status: int, code: str, message: str, param: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after is not None:
            return {"Retry-After": str(self.retry_after)}
        return NO_RETRY_HEADERS


def genq_error(response: Response) -> tuple[str, str] | None:
    """(code, message) of a response in genq's own error shape (made by the app's
    handlers before a compat view ran: auth, rate limits, outages), else None."""
    if response.status_code < 400 or not response.is_json:
        return None
    body = response.get_json(silent=True)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or "code" not in error or "type" in error:
        return None
    return str(error["code"]), str(error.get("message", ""))
