"""The `generate` kind: text-to-image with a diffusers pipeline, batched across
jobs that can share one pipeline call (same model, size, steps, scheduler,
guidance and adapter); its images count against the daily budget."""

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from db.kinds.definition import Batching, JobKind, NonEmpty, QuotaUnits
from db.kinds.references import AdapterReference
from db.specs import MAX_SEED, not_blank, prompt_within_cap, random_seed, within_cap

GENERATE_QUEUE = "generate"
# Names users pick; worker/pipelines.py maps each to a diffusers scheduler class.
SCHEDULERS = ("ddim", "euler", "euler_a", "dpmpp_2m", "heun", "pndm", "unipc")


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
        return prompt_within_cap(not_blank(prompt), info)

    @field_validator("negative_prompt")
    @classmethod
    def _negative_prompt_within_cap(cls, prompt: str, info: ValidationInfo) -> str:
        return prompt_within_cap(prompt, info)

    @field_validator("width", "height")
    @classmethod
    def _size_multiple_of_8_within_cap(cls, size: int | None, info: ValidationInfo) -> int | None:
        if size is None:
            return None
        if size % 8:
            raise ValueError("must be a multiple of 8")
        return within_cap(size, info, f"max_{info.field_name}")


KIND = JobKind(
    name="generate",
    spec=GenerateSpec,
    queue=GENERATE_QUEUE,
    model_kind="image",
    executor_module="worker.executors.generate",
    steps_param="steps",
    eta_params=("width", "height", "num_images"),
    quota=QuotaUnits("num_images"),
    batching=Batching(
        {
            # Prompts may differ, but not whether there is a negative one: SDXL-style
            # pipelines use zeros for a job without one and would give that job other
            # images in a batch with a job that has one.
            ("negative_prompt",): NonEmpty,
            ("adapter", "id"): str,
            ("adapter", "scale"): float,
            ("width",): int,
            ("height",): int,
            ("steps",): int,
            ("scheduler",): str,
            ("guidance_scale",): float,
        },
        size="num_images",
    ),
    references=(AdapterReference("adapter"),),
)
