"""The JSON API's error shape: {"error": {"code", "message", "details"}}, details
only where fields are at fault ([{"field", "message"}]).

Messages are written for the client; they never carry tracebacks, SQL or paths.
"""

from typing import Any

from web.errors import HttpError

# The name the API's views raise it by.
ApiError = HttpError


def api_error_body(error: HttpError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    return {"error": body}
