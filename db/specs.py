"""What the params specs of every job kind share (seeds, prompts within the caps
of settings, given as validation context), and the body of POST /api/v1/jobs.

A spec is checked once, at submit time, against the caps in settings; the worker
re-reads the stored params with the same model (no context: no caps). Each
kind's own spec is in db/kinds/<kind>.py.
"""

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from db.webhooks import DEFAULT_WEBHOOK_EVENTS, MAX_URL_LENGTH, WEBHOOK_EVENTS

MAX_SEED = 2**32 - 1
MIN_PRIORITY, MAX_PRIORITY = -10, 10


# JSON Schema keywords that mark what only a deployment knows, for its OpenAPI
# document to replace (web/api/openapi.py): a Capped field's cap, and the names a
# field naming a model takes: {"kind": model kind, "also": other names it takes}.
CAP_MARK = "x-genq-cap"
MODELS_MARK = "x-genq-models"


@dataclass(frozen=True)
class Capped:
    """A field's cap from settings (Settings.<setting>): a number's maximum, a text's
    length in characters. Checked at submit against the settings
    given as validation context (the worker re-reads stored params with none), and
    stated by this deployment's OpenAPI document."""

    setting: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.with_info_after_validator_function(self._within_cap, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), CAP_MARK: self.setting}

    def _within_cap(self, value: Any, info: ValidationInfo) -> Any:
        cap = setting_cap(info, self.setting)
        if cap is None:
            return value
        if isinstance(value, str) and len(value) > cap:
            raise ValueError(f"must be at most {cap} characters")
        if isinstance(value, int | float) and value > cap:
            raise ValueError(f"must be at most {cap}")
        return value


@dataclass(frozen=True, eq=False)  # hashable by identity, as typing hashes Annotated's metadata
class Stated:
    """A check (a function of the value that raises ValueError with the message a
    client sees) together with the JSON Schema keywords that say the same rule."""

    check: Callable[[Any], Any]
    keywords: Mapping[str, Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), **self.keywords}


def random_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def _multiple_of_8(size: int) -> int:
    if size % 8:
        raise ValueError("must be a multiple of 8")
    return size


NOT_BLANK = Stated(_not_blank, {"pattern": r"\S"})
MULTIPLE_OF_8 = Stated(_multiple_of_8, {"multipleOf": 8})
# A prompt of any kind: at most GENQ_MAX_PROMPT_CHARS.
Prompt = Annotated[str, Capped("max_prompt_chars")]


def setting_cap(info: ValidationInfo, name: str) -> int | None:
    """A cap from the settings given as validation context (absent when the worker re-reads)."""
    settings = (info.context or {}).get("settings")
    return getattr(settings, name) if settings is not None else None


def _scalar_types(annotation: Any) -> set[type]:
    """The JSON scalar types (bool, int, float, str) a field of this type takes."""
    if get_origin(annotation) is Annotated:
        return _scalar_types(get_args(annotation)[0])
    if isinstance(annotation, UnionType) or get_origin(annotation) is Union:
        return set().union(*(_scalar_types(member) for member in get_args(annotation)))
    return {annotation} & {bool, int, float, str}


# No text may hold U+0000: Postgres's JSON functions refuse to read any value of a
# document that holds one, and the claims, deletions and ETAs read stored params.
NUL = "\x00"
NO_NUL = {"not": {"pattern": "\\u0000"}}


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    # A nested body (a list's objects, the params object) checks its own fields, naming them.
    return isinstance(value, list) and any(map(_holds_nul, value))


def _strings_without_nul(schema: Any) -> None:
    """Adds NO_NUL to every string schema in this one (not through $refs: each JsonBody states its own)."""
    if isinstance(schema, list):
        for item in schema:
            _strings_without_nul(item)
    elif isinstance(schema, dict):
        if schema.get("type") == "string":
            schema.update(NO_NUL)
        for key in ("anyOf", "oneOf", "allOf", "items", "properties", "additionalProperties"):
            if key in schema:
                _strings_without_nul(list(schema[key].values()) if key == "properties" else schema[key])


class JsonBody(BaseModel):
    """A model of a JSON request body (or a part of one), whose values have the JSON
    types its schema states: a number is a JSON number (3 or 3.0 for an integer),
    never a string or true or false, and a boolean is true or false, never 0, 1 or
    "yes", all of which pydantic would take. Where a body's values may be text (a
    web form's, a compat API's), `coerce_types` in the validation context lets
    pydantic read them. No text holds U+0000, whichever way it came, and no number
    is NaN or infinite (Python's JSON parser takes them; JSON has neither). The
    types are those of a field's scalars: a list's or a dict's items are not
    checked (no spec has a list or dict of numbers).
    Checked before the field's own validation, which keeps its constraints in its
    JSON Schema."""

    model_config = ConfigDict(allow_inf_nan=False)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        _strings_without_nul(handler.resolve_ref_schema(json_schema))
        return json_schema

    @field_validator("*", mode="before")
    @classmethod
    def _json_types(cls, value: Any, info: ValidationInfo) -> Any:
        if _holds_nul(value):
            raise ValueError("must not hold the character U+0000")
        if (info.context or {}).get("coerce_types") or not info.field_name or value is None:
            return value
        types = _scalar_types(cls.model_fields[info.field_name].annotation)
        if str in types:
            return value
        if bool in types:
            if not isinstance(value, bool) and not (types - {bool} and isinstance(value, int | float)):
                raise ValueError("must be true or false (a JSON boolean)")
        elif types and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("must be a JSON number, not text, true or false")
        return value


class SubmitRequest(JsonBody):
    """The body of POST /api/v1/jobs; params are checked by the kind's spec."""

    model_config = ConfigDict(
        extra="forbid",
        # _events_need_a_url, for the OpenAPI document.
        json_schema_extra={
            "if": {"required": ["webhook_events"], "properties": {"webhook_events": {"type": "array"}}},
            "then": {"required": ["webhook_url"], "properties": {"webhook_url": {"type": "string"}}},
        },
    )

    # One of db.kinds.job_kinds(), checked by web.submission (kinds may be added at start-up).
    kind: str = Field(default="generate", min_length=1, max_length=32)
    model: str | None = Field(default=None, min_length=1, max_length=255)
    params: dict[str, Any]
    # Higher runs first within a queue, after fair share across owners (the claim's policy).
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    # Where to POST the job on the chosen events; the URL's target is checked at submit
    # (web.submission) and before every delivery (db/webhooks.py).
    webhook_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_URL_LENGTH,
        json_schema_extra={"format": "uri", "pattern": "^https?://"},
    )
    webhook_events: list[Literal[WEBHOOK_EVENTS]] | None = Field(default=None, min_length=1)  # type: ignore[valid-type]

    @field_validator("webhook_events")
    @classmethod
    def _events_need_a_url(cls, events: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if events is not None and info.data.get("webhook_url") is None:
            raise ValueError("needs a webhook_url")
        return events

    @property
    def chosen_webhook_events(self) -> list[str] | None:
        """The events to deliver, in their documented order; None without a webhook."""
        if self.webhook_url is None:
            return None
        chosen = set(self.webhook_events or DEFAULT_WEBHOOK_EVENTS)
        return [event for event in WEBHOOK_EVENTS if event in chosen]


class JobChange(JsonBody):
    """The body of PATCH /api/v1/jobs/<id>: a queued job's priority, which moves it to
    the front (higher) or back (lower) of its owner's turn."""

    model_config = ConfigDict(extra="forbid")

    priority: int = Field(ge=MIN_PRIORITY, le=MAX_PRIORITY)
