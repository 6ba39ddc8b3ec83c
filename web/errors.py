"""The one error path: every failure of a request (an HttpError raised by a view
or a hook, a Refusal of a submission, an HTTP error of routing or parsing, a
database outage, anything unexpected) becomes one HttpError, answered in the
error shape of the API its path is under (/api, /v1, /sdapi: web/api/errors.py,
web/compat/errors.py), elsewhere as a small HTML page.

An unexpected exception is logged here and answered with a generic 500; its
text never reaches the client. A database that does not answer is a 503
(`database_unavailable`, with Retry-After), never a 500.
"""

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy import exc as sql_errors
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from db.refusals import Refusal
from db.session import is_database_outage

logger = logging.getLogger(__name__)

ERROR_SHAPES = "genq.error_shapes"
# About how long a database restart or failover takes.
DATABASE_RETRY_AFTER_SECONDS = 5


class HttpError(Exception):
    """An answer with an error status: raised by views and hooks, and what every
    other failure is turned into (http_error_of) before it is rendered.

    details: the fields at fault, [{"field", "message", ...}], or None."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


# The body of an error in one API's shape.
ErrorShape = Callable[[HttpError], dict[str, Any]]


def http_error_of(error: Exception) -> HttpError:
    if isinstance(error, HttpError):
        return error
    if isinstance(error, Refusal):
        details = [{"field": field.field, "message": field.message} for field in error.errors]
        return HttpError(error.status, error.code, error.message, details or None, error.headers)
    if isinstance(error, HTTPException):
        status = error.code or 500
        # Keep what the exception adds besides its HTML body, e.g. Allow on a 405.
        headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
        name = error.name or HTTP_STATUS_CODES.get(status, "error")
        # "Method Not Allowed" -> "method_not_allowed"
        return HttpError(status, name.lower().replace(" ", "_"), error.description or name, headers=headers)
    if isinstance(error, sql_errors.TimeoutError):
        # The pool's bound (GENQ_WEB_DB_POOL_SIZE), not the database, turned it away.
        logger.warning("no free database connection on %s %s", request.method, request.path)
        return HttpError(
            503,
            "database_busy",
            "every database connection of this server is in use; try again in a few seconds",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, SQLAlchemyError) and is_database_outage(error):
        logger.warning("the database did not answer on %s %s: %s", request.method, request.path, error)
        return HttpError(
            503,
            "database_unavailable",
            "the database is not answering; try again in a few seconds",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    logger.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return HttpError(500, "internal_error", "an internal error occurred; it has been logged")


def _shape_of(path: str) -> ErrorShape | None:
    shapes: dict[str, ErrorShape] = current_app.extensions[ERROR_SHAPES]
    for prefix, shape in shapes.items():
        if path == prefix or path.startswith(prefix + "/"):
            return shape
    return None


def error_response(error: HttpError) -> Response:
    """The error in the shape of the API the request's path is under, else an HTML page."""
    shape = _shape_of(request.path)
    if shape is None:
        title = HTTP_STATUS_CODES.get(error.status, "Error")
        response = Response(render_template("error.html", status=error.status, title=title, message=error.message))
    else:
        response = jsonify(shape(error))
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _handle(error: Exception) -> Response:
    return error_response(http_error_of(error))


def install_error_handlers(app: Flask, shapes: dict[str, ErrorShape]) -> None:
    """shapes: {path prefix: the error shape of the API under it}. Errors raised
    before a view runs (web.auth, the rate limiter, a database outage) and for paths
    no route matches (404, 405) take the same path, so they come in the same shape."""
    app.extensions[ERROR_SHAPES] = shapes
    app.register_error_handler(Exception, _handle)
