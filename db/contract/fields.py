"""Field types the contract's models share: timestamps sent in UTC with a Z, and
fields that are left out of the JSON (not sent as null) where they do not apply."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

UtcDatetime = Annotated[datetime, AfterValidator(lambda moment: moment.astimezone(UTC))]


def _absent(value: Any) -> bool:
    return value is None


def omitted_when_none(description: str) -> Any:
    """A field sent only where it applies: None leaves it out of the JSON, and the
    schema (annotate the type `X | SkipJsonSchema[None]`) shows it as optional X."""
    return Field(default=None, exclude_if=_absent, description=description)
