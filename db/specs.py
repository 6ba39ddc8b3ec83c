"""What the params specs of every job kind share (seeds, prompts within the caps
of settings, given as validation context), and the body of POST /api/v1/jobs.

A spec is checked once, at submit time, against the caps in settings; the worker
re-reads the stored params with the same model (no context: no caps). Each
kind's own spec is in db/kinds/<kind>.py.
"""

import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from db.webhooks import DEFAULT_WEBHOOK_EVENTS, MAX_URL_LENGTH, WEBHOOK_EVENTS

MAX_SEED = 2**32 - 1
MIN_PRIORITY, MAX_PRIORITY = -10, 10


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not true or false")
    return value


# An integer of a JSON body: 3 or 3.0, never true or false (pydantic takes a bool for 0 or 1).
JsonInt = Annotated[int, BeforeValidator(_not_a_boolean)]


def random_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


def not_blank(prompt: str) -> str:
    if not prompt.strip():
        raise ValueError("must not be blank")
    return prompt


def prompt_within_cap(prompt: str, info: ValidationInfo) -> str:
    return text_within_cap(prompt, info, "max_prompt_chars")


def text_within_cap(text: str, info: ValidationInfo, name: str) -> str:
    cap = setting_cap(info, name)
    if cap is not None and len(text) > cap:
        raise ValueError(f"must be at most {cap} characters")
    return text


def within_cap(value: int, info: ValidationInfo, name: str) -> int:
    cap = setting_cap(info, name)
    if cap is not None and value > cap:
        raise ValueError(f"must be at most {cap}")
    return value


def setting_cap(info: ValidationInfo, name: str) -> int | None:
    """A cap from the settings given as validation context (absent when the worker re-reads)."""
    settings = (info.context or {}).get("settings")
    return getattr(settings, name) if settings is not None else None


class SubmitRequest(BaseModel):
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
    priority: JsonInt = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    # Where to POST the job on the chosen events; the URL's target is checked at submit
    # (web.submission) and before every delivery (db/webhooks.py).
    webhook_url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH)
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


class JobChange(BaseModel):
    """The body of PATCH /api/v1/jobs/<id>: a queued job's priority, which moves it to
    the front (higher) or back (lower) of its owner's turn."""

    model_config = ConfigDict(extra="forbid")

    priority: JsonInt = Field(ge=MIN_PRIORITY, le=MAX_PRIORITY)
