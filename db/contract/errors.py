"""The JSON API's error shape: {"error": {"code", "message", "details"}}, details
only where fields are at fault."""

from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema

from db.contract.fields import omitted_when_none


class FieldError(BaseModel):
    field: str
    message: str
    # An upload's refusal names the file, the rule it broke and the rule's limit.
    file: str | SkipJsonSchema[None] = omitted_when_none("the file at fault (uploads)")
    rule: str | SkipJsonSchema[None] = omitted_when_none("the rule it broke (uploads)")
    limit: int | SkipJsonSchema[None] = omitted_when_none("the rule's limit (uploads)")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[FieldError] | SkipJsonSchema[None] = omitted_when_none("the fields at fault")


class Error(BaseModel):
    error: ErrorBody
