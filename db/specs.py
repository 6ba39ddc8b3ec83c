"""Job specs: the validated params of each job kind, and the kind registry.

A spec is checked once, at submit time, against the caps in settings (passed as
validation context); the worker re-reads the stored params with the same model.
"""

import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from db.queue import FINETUNE_QUEUE, GENERATE_QUEUE, TEXTGEN_QUEUE
from db.webhooks import DEFAULT_WEBHOOK_EVENTS, MAX_URL_LENGTH, WEBHOOK_EVENTS, WEBHOOKS_QUEUE

# Names users pick; worker/pipelines.py maps each to a diffusers scheduler class.
SCHEDULERS = ("ddim", "euler", "euler_a", "dpmpp_2m", "heun", "pndm", "unipc")
MAX_SEED = 2**32 - 1
MIN_PRIORITY, MAX_PRIORITY = -10, 10


def random_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


class AdapterRef(BaseModel):
    """A trained adapter (GET /api/v1/adapters) to apply to a generate job's model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    # The LoRA's weight: 0 is the base model, 1 the adapter as trained.
    scale: float = Field(default=1.0, ge=0, le=2)


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
    # Must be the owner's and trained on the job's model (checked at submit).
    adapter: AdapterRef | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank_within_cap(cls, prompt: str, info: ValidationInfo) -> str:
        return _prompt_within_cap(_not_blank(prompt), info)

    @field_validator("negative_prompt")
    @classmethod
    def _negative_prompt_within_cap(cls, prompt: str, info: ValidationInfo) -> str:
        return _prompt_within_cap(prompt, info)

    @field_validator("width", "height")
    @classmethod
    def _size_multiple_of_8_within_cap(cls, size: int | None, info: ValidationInfo) -> int | None:
        if size is None:
            return None
        if size % 8:
            raise ValueError("must be a multiple of 8")
        return _within_cap(size, info, f"max_{info.field_name}")


LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
ADAPTER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$"
MAX_CHECKPOINTS = 100


class FinetuneSpec(BaseModel):
    """Params of a LoRA training job: the names, meanings and defaults of diffusers'
    train_dreambooth_lora.py (max_train_steps, which the script derives from epochs
    when absent, defaults to 500 here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["lora"] = "lora"
    dataset_id: uuid.UUID
    # The prompt of every image without a caption file of its own.
    instance_prompt: str = Field(min_length=1)
    resolution: int = Field(default=512, ge=64)
    max_train_steps: int = Field(default=500, ge=1)
    learning_rate: float = Field(default=5e-4, gt=0, le=1)
    rank: int = Field(default=4, ge=1)
    # None: equal to rank, as the script sets it.
    lora_alpha: float | None = Field(default=None, gt=0)
    batch_size: int = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=64)
    lr_scheduler: Literal[LR_SCHEDULERS] = "constant"  # type: ignore[valid-type]
    lr_warmup_steps: int = Field(default=500, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    seed: int = Field(default_factory=random_seed, ge=0, le=MAX_SEED)
    validation_prompt: str | None = Field(default=None, min_length=1)
    num_validation_images: int = Field(default=4, ge=1, le=8)
    # The script's default is 500, its default run's length: a run that short would
    # never be saved, and a crashed job would start over instead of resuming.
    checkpointing_steps: int = Field(default=100, ge=1)
    # None: named after the training job.
    adapter_name: str | None = Field(default=None, pattern=ADAPTER_NAME_PATTERN)

    @field_validator("instance_prompt", "validation_prompt")
    @classmethod
    def _prompts_not_blank_within_cap(cls, prompt: str | None, info: ValidationInfo) -> str | None:
        return None if prompt is None else _prompt_within_cap(_not_blank(prompt), info)

    @field_validator("resolution")
    @classmethod
    def _resolution_multiple_of_8_within_cap(cls, resolution: int, info: ValidationInfo) -> int:
        if resolution % 8:
            raise ValueError("must be a multiple of 8")
        return _within_cap(resolution, info, "max_train_resolution")

    @field_validator("max_train_steps")
    @classmethod
    def _steps_within_cap(cls, steps: int, info: ValidationInfo) -> int:
        return _within_cap(steps, info, "max_train_steps")

    @field_validator("rank")
    @classmethod
    def _rank_within_cap(cls, rank: int, info: ValidationInfo) -> int:
        return _within_cap(rank, info, "max_lora_rank")

    @field_validator("batch_size")
    @classmethod
    def _batch_within_cap(cls, batch_size: int, info: ValidationInfo) -> int:
        return _within_cap(batch_size, info, "max_train_batch_size")

    @model_validator(mode="after")
    def _checkpoints_within_cap(self) -> "FinetuneSpec":
        # Each checkpoint writes the LoRA and the optimizer state to storage.
        if self.max_train_steps > MAX_CHECKPOINTS * self.checkpointing_steps:
            fewest = -(-self.max_train_steps // MAX_CHECKPOINTS)
            raise ValueError(
                f"checkpointing_steps must be at least {fewest}: at most {MAX_CHECKPOINTS} checkpoints per training"
            )
        return self


class TextgenSpec(BaseModel):
    """Params of a text-generation job: the names and meanings of transformers'
    generate(); temperature 0 means greedy decoding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(min_length=1)
    max_new_tokens: int = Field(default=64, ge=1)
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = Field(default=50, ge=0)
    repetition_penalty: float = Field(default=1.0, gt=0, le=10)
    seed: int = Field(default_factory=random_seed, ge=0, le=MAX_SEED)
    num_return_sequences: int = Field(default=1, ge=1, le=8)
    # Generation of a sequence ends where one of these appears (it is cut there).
    stop: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default=[], max_length=4)

    @field_validator("prompt")
    @classmethod
    def _prompt_within_cap(cls, prompt: str, info: ValidationInfo) -> str:
        return _prompt_within_cap(prompt, info)

    @field_validator("max_new_tokens")
    @classmethod
    def _tokens_within_cap(cls, tokens: int, info: ValidationInfo) -> int:
        return _within_cap(tokens, info, "max_new_tokens")


def _not_blank(prompt: str) -> str:
    if not prompt.strip():
        raise ValueError("must not be blank")
    return prompt


def _prompt_within_cap(prompt: str, info: ValidationInfo) -> str:
    cap = _cap(info, "max_prompt_chars")
    if cap is not None and len(prompt) > cap:
        raise ValueError(f"must be at most {cap} characters")
    return prompt


def _within_cap(value: int, info: ValidationInfo, name: str) -> int:
    cap = _cap(info, name)
    if cap is not None and value > cap:
        raise ValueError(f"must be at most {cap}")
    return value


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
    "finetune": JobKind("finetune", FinetuneSpec, FINETUNE_QUEUE),
    "textgen": JobKind("textgen", TextgenSpec, TEXTGEN_QUEUE),
}


def all_worker_queues() -> list[str]:
    """Every queue a worker may take tasks from: each kind's, then webhook deliveries."""
    return list(dict.fromkeys(kind.queue for kind in JOB_KINDS.values())) + [WEBHOOKS_QUEUE]


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
