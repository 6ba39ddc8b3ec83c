"""The one JSON error shape of the API: {"error": {"code", "message", "details"}}.

Messages are written for the client; they never carry tracebacks, SQL or paths.
"""

from typing import Any

from flask import Response, jsonify


class ApiError(Exception):
    """Raised by API views; answered with the JSON error shape and this status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    response = jsonify({"error": error})
    response.status_code = status
    return response


def api_error_response(error: ApiError) -> Response:
    response = error_response(error.status, error.code, error.message, error.details)
    response.headers.update(error.headers)
    return response
