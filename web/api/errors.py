"""The JSON API's error shape: {"error": {"code", "message", "details"}}, details
only where fields are at fault ([{"field", "message"}]).

Messages are written for the client; they never carry tracebacks, SQL or paths.
"""

from typing import Any

from db import contract
from web.errors import HttpError

# The name the API's views raise it by.
ApiError = HttpError


def api_error_body(error: HttpError) -> dict[str, Any]:
    details = None if error.details is None else [contract.FieldError(**detail) for detail in error.details]
    return contract.Error(error=contract.ErrorBody(code=error.code, message=error.message, details=details)).model_dump(
        mode="json"
    )
