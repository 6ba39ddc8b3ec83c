"""How failures look: the JSON error shape under /api/, a small HTML page elsewhere.

An unexpected exception is logged here and answered with a generic 500; its
text never reaches the client. A database that does not answer is a 503
(`database_unavailable`, with Retry-After), never a 500.
"""

import logging

from flask import Flask, Response, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from db.session import is_database_outage
from web.api.errors import ApiError, api_error_response, error_response

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
# About how long a database restart or failover takes.
DATABASE_RETRY_AFTER_SECONDS = 5


def _is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def _http_error_code(error: HTTPException) -> str:
    # "Method Not Allowed" -> "method_not_allowed"
    return (error.name or "error").lower().replace(" ", "_")


def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if _is_api_request():
        response = error_response(status, _http_error_code(error), error.description or error.name)
        # Keep what the exception adds besides its HTML body, e.g. Allow on a 405.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response
    return Response(
        render_template("error.html", status=status, title=error.name, message=error.description),
        status=status,
    )


def _handle_unexpected(error: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.path)
    if _is_api_request():
        return error_response(500, "internal_error", "an internal error occurred; it has been logged")
    internal = InternalServerError()
    return Response(
        render_template("error.html", status=500, title=internal.name, message=internal.description),
        status=500,
    )


def _handle_database_error(error: SQLAlchemyError) -> Response:
    if not is_database_outage(error):
        return _handle_unexpected(error)
    logger.warning("the database did not answer on %s %s: %s", request.method, request.path, error)
    message = "the database is not answering; try again in a few seconds"
    if _is_api_request():
        response = error_response(503, "database_unavailable", message)
    else:
        title = ServiceUnavailable().name
        response = Response(render_template("error.html", status=503, title=title, message=message), status=503)
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def install_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, api_error_response)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(SQLAlchemyError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected)
