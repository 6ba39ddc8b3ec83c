"""The compatible endpoints' request bodies are pydantic models (CompatBody): each
declares the fields its endpoint maps to a genq job, with the API's types and
defaults; fields it does not name are ignored (docs/compatibility.md lists them).
What genq takes over as a job's params is typed Any there: the job's spec validates
it, so a bad value gets the JSON API's answer (e.g. `params.width`). A body that
does not fit is a SubmissionRejected (422 validation_error) naming the field."""

from typing import Any, Self

from flask import request
from pydantic import BaseModel, ValidationError, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

from db.refusals import SubmissionRejected, field_errors
from web.errors import HttpError

REWORDED = "reworded"

# A param genq takes over as it is: the job's spec validates it.
JobParam = Any


def reworded(message: str) -> WrapValidator:
    """Report any error of the field as `message`, in the API's words instead of
    pydantic's; an error already reworded inside it (a list's item) is kept."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            if all(detail["type"] == REWORDED for detail in error.errors()):
                raise
            raise PydanticCustomError(REWORDED, message) from None

    return WrapValidator(validate)


class CompatBody(BaseModel):
    @classmethod
    def from_request(cls) -> Self:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise HttpError(400, "invalid_json", "the body must be a JSON object")
        return cls._validated(body)

    @classmethod
    def from_form(cls) -> Self:
        """The fields of a multipart body (its files are the endpoint's to read);
        every value is text, which the job's spec converts as JSON's would be."""
        return cls._validated(request.form.to_dict())

    @classmethod
    def _validated(cls, body: dict[str, Any]) -> Self:
        try:
            return cls.model_validate(body)
        except ValidationError as error:
            raise SubmissionRejected("validation_error", field_errors(error)) from None


def present(params: dict[str, Any]) -> dict[str, Any]:
    """The params the caller sent: an absent (null) one gets the spec's default."""
    return {name: value for name, value in params.items() if value is not None}
