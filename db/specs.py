"""Job specs: the validated params of each job kind, and the kind registry.

A spec is checked once, at submit time, against the caps in settings (passed as
validation context); the worker re-reads the stored params with the same model.
"""

import secrets
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from db.queue import GENERATE_QUEUE
from db.webhooks import DEFAULT_WEBHOOK_EVENTS, MAX_URL_LENGTH, WEBHOOK_EVENTS

# Names users pick; worker/pipelines.py maps each to a diffusers scheduler class.
SCHEDULERS = ("ddim", "euler", "euler_a", "dpmpp_2m", "heun", "pndm", "unipc")
MAX_SEED = 2**32 - 1
MIN_PRIORITY, MAX_PRIORITY = -10, 10


def random_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


class GenerateSpec(BaseModel):
    """Params of a text-to-image job; the names and ranges of diffusers' pipelines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(min_length=1)
    negative_prompt: str = ""
    # None: the model's native size (unet sample_size x VAE scale factor).
    width: int | None = Field(default=None, ge=64)
    height: int | None = Field(default=None, ge=64)
    steps: int = Field(default=25, ge=1, le=150)
    guidance_scale: float = Field(default=7.5, ge=0, le=30)
    num_images: int = Field(default=1, ge=1, le=8)
    # Drawn at submit time when absent, so every attempt of a job makes the same images.
    seed: int = Field(default_factory=random_seed, ge=0, le=MAX_SEED)
    # None: the scheduler the model was saved with.
    scheduler: Literal[SCHEDULERS] | None = None  # type: ignore[valid-type]

    @field_validator("prompt")
    @classmethod
    def _prompt_within_cap(cls, prompt: str, info: ValidationInfo) -> str:
        if not prompt.strip():
            raise ValueError("must not be blank")
        cap = _cap(info, "max_prompt_chars")
        if cap is not None and len(prompt) > cap:
            raise ValueError(f"must be at most {cap} characters")
        return prompt

    @field_validator("negative_prompt")
    @classmethod
    def _negative_prompt_within_cap(cls, prompt: str, info: ValidationInfo) -> str:
        cap = _cap(info, "max_prompt_chars")
        if cap is not None and len(prompt) > cap:
            raise ValueError(f"must be at most {cap} characters")
        return prompt

    @field_validator("width", "height")
    @classmethod
    def _size_multiple_of_8_within_cap(cls, size: int | None, info: ValidationInfo) -> int | None:
        if size is None:
            return None
        if size % 8:
            raise ValueError("must be a multiple of 8")
        cap = _cap(info, f"max_{info.field_name}")
        if cap is not None and size > cap:
            raise ValueError(f"must be at most {cap}")
        return size


def _cap(info: ValidationInfo, name: str) -> int | None:
    """A cap from the settings given as validation context (absent when the worker re-reads)."""
    settings = (info.context or {}).get("settings")
    return getattr(settings, name) if settings is not None else None


@dataclass(frozen=True)
class JobKind:
    name: str
    spec: type[BaseModel]
    queue: str


JOB_KINDS: dict[str, JobKind] = {
    "generate": JobKind("generate", GenerateSpec, GENERATE_QUEUE),
}


def kinds_on_queue(queue: str) -> list[str]:
    """The kinds whose jobs a wake-up message on this queue may claim."""
    return [kind.name for kind in JOB_KINDS.values() if kind.queue == queue]


class SubmitRequest(BaseModel):
    """The body of POST /api/v1/jobs; params are checked by the kind's spec."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[tuple(JOB_KINDS)] = "generate"  # type: ignore[valid-type]
    model: str | None = Field(default=None, min_length=1, max_length=255)
    params: dict[str, Any]
    # Higher runs first within a queue, after fair share across owners (the claim's policy).
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
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
