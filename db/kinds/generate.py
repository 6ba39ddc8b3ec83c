"""The `generate` kind: text-to-image (with an optional hires pass),
image-to-image and inpainting with a diffusers pipeline, batched across jobs that
can share one pipeline call (same model, size, steps, scheduler, guidance, adapter
set, mode and hires pass); its images count against the daily budget."""

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from db.input_images import InputImage
from db.kinds.definition import Batching, JobKind, NonEmpty, QuotaUnits
from db.kinds.references import AdapterListReference
from db.kinds.upscale import LANCZOS, Scale, Upscaler
from db.registry import default_model
from db.settings import Settings
from db.specs import (
    CAP_MARK,
    MAX_SEED,
    MULTIPLE_OF_8,
    NOT_BLANK,
    Capped,
    JsonBody,
    Prompt,
    random_seed,
    setting_cap,
)

GENERATE_QUEUE = "generate"
DEFAULT_STRENGTH = 0.75
DEFAULT_MASK_BLUR = 4
DEFAULT_HIRES_STRENGTH = 0.5
# Names users pick; worker/pipelines.py maps each to a diffusers scheduler class.
SCHEDULERS = ("ddim", "euler", "euler_a", "dpmpp_2m", "heun", "pndm", "unipc")
# The most adapters any job may name (GENQ_MAX_ADAPTERS_PER_JOB sets the cap, up to
# this): each place in the list is a batch key param and a reference column.
ADAPTER_SLOTS = 8


def _field_error(field: str, message: str, value: Any) -> ValidationError:
    """A check of several fields that names the one at fault (a model validator's
    own errors would name none)."""
    error = InitErrorDetails(type=PydanticCustomError("value_error", message), loc=(field,), input=value)
    return ValidationError.from_exception_data(GenerateSpec.__name__, [error])


class AdapterRef(JsonBody):
    """A trained adapter (GET /api/v1/adapters) to apply to a generate job's model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    # The LoRA's weight: 0 is the base model, 1 the adapter as trained.
    scale: float = Field(default=1.0, ge=0, le=2)


class HiresSpec(JsonBody):
    """AUTOMATIC1111's hires fix: the images made at the job's size, upscaled, then
    denoised again at the larger size (image-to-image), which adds detail that a
    first pass at that size would lay out badly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # What upscales between the passes: lanczos, or an upscaler model (db/kinds/upscale.py).
    upscaler: Upscaler = LANCZOS
    # The result is this many times the job's width and height, in multiples of 8.
    scale: Scale
    # How much of the upscaled image the second pass repaints.
    strength: float = Field(default=DEFAULT_HIRES_STRENGTH, gt=0, le=1)
    # The second pass's steps (it runs strength x steps of them). None: the job's steps.
    steps: int | None = Field(default=None, ge=1, le=150)


def hires_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The size a hires pass makes of a width x height image: scale times, in multiples of 8."""
    return int(width * scale) // 8 * 8, int(height * scale) // 8 * 8


class GenerateSpec(JsonBody):
    """Params of a text-to-image job; the names and ranges of diffusers' pipelines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # May be blank only with an init image, which then alone says what to paint
    # (A1111's img2img and OpenAI's variations send none).
    # The document states the stricter rule (not blank), which JSON Schema can say of one field.
    prompt: Prompt = Field(json_schema_extra=dict(NOT_BLANK.keywords))
    negative_prompt: Prompt = ""
    # None: the model's native size (unet sample_size x VAE scale factor).
    width: Annotated[int, Field(ge=64), MULTIPLE_OF_8, Capped("max_width")] | None = None
    height: Annotated[int, Field(ge=64), MULTIPLE_OF_8, Capped("max_height")] | None = None
    steps: int = Field(default=25, ge=1, le=150)
    guidance_scale: float = Field(default=7.5, ge=0, le=30)
    num_images: int = Field(default=1, ge=1, le=8)
    # Drawn at submit time when absent, so every attempt of a job makes the same images.
    seed: int = Field(default_factory=random_seed, ge=0, le=MAX_SEED)
    # None: the scheduler the model was saved with.
    scheduler: Literal[SCHEDULERS] | None = None  # type: ignore[valid-type]
    # Shorthand for a list of one: it joins `adapters` (it is never in the stored params).
    adapter: AdapterRef | None = Field(default=None, exclude=True)
    # LoRAs applied together, each the owner's and trained on the job's model (checked
    # at submit); kept in id order, as the order they are given in changes nothing.
    adapters: list[AdapterRef] = Field(
        default_factory=list,
        max_length=ADAPTER_SLOTS,
        validate_default=True,
        # The cap counts the shorthand's adapter too (_one_adapter_set).
        json_schema_extra={CAP_MARK: "max_adapters_per_job"},
    )
    # Image-to-image: the image to start from (an upload id, or a data URI stored as
    # one at submit); width and height default to its size, in multiples of 8.
    init_image: InputImage | None = None
    # How much of the init image is repainted (A1111's denoising_strength): the
    # denoising starts this far into its steps.
    # None: 0.75 with an init image (filled in below, so the stored params say it).
    strength: float | None = Field(default=None, gt=0, le=1)
    # Inpainting: white repaints, black keeps the init image (resized to its size).
    mask_image: InputImage | None = None
    # The mask's edge is blurred by this many pixels; outside the blurred mask the
    # init image's pixels are kept exactly.
    # None: 4 with a mask.
    mask_blur: int | None = Field(default=None, ge=0, le=64)
    # Each image's CLIP score against the prompt in its artifact (`clip_score`), by
    # the clip model GENQ_SCORE_MODEL names (else the first installed); GENQ_SCORE_IMAGES
    # scores every job's images.
    score: bool = False
    # Text-to-image only: a second pass at a larger size. Last, as its checks read the size.
    hires: HiresSpec | None = None

    @model_validator(mode="after")
    def _image_defaults(self) -> "GenerateSpec":
        """The image modes' defaults, only where they apply: a text-to-image job's
        params (and batch key) stay as they were."""
        defaults: dict[str, Any] = {}
        if self.init_image is not None and self.strength is None:
            defaults["strength"] = DEFAULT_STRENGTH
        if self.mask_image is not None and self.mask_blur is None:
            defaults["mask_blur"] = DEFAULT_MASK_BLUR
        return self.model_copy(update=defaults) if defaults else self

    @model_validator(mode="after")
    def _something_to_paint(self) -> "GenerateSpec":
        """A prompt or an init image; and from an init image at least one denoising
        step: diffusers runs int(steps x strength) of them (the defaults are in by now)."""
        if self.init_image is None and not self.prompt.strip():
            raise _field_error("prompt", "must not be blank", self.prompt)
        if self.strength is not None and int(self.steps * self.strength) < 1:
            message = f"with {self.steps} steps must be at least 1/{self.steps}, or no step repaints anything"
            raise _field_error("strength", message, self.strength)
        return self

    @field_validator("mask_image")
    @classmethod
    def _mask_needs_an_init_image(cls, mask: str | None, info: ValidationInfo) -> str | None:
        if mask is not None and info.data.get("init_image") is None:
            raise ValueError("needs an init_image to repaint")
        return mask

    @field_validator("adapters")
    @classmethod
    def _one_adapter_set(cls, adapters: list[AdapterRef], info: ValidationInfo) -> list[AdapterRef]:
        """The shorthand's adapter joins the list; the set sorted by id (its order changes
        no pixel, and so neither the batch key), each adapter once, at most the cap."""
        shorthand = info.data.get("adapter")
        adapters = [*adapters, *([shorthand] if shorthand is not None else [])]
        cap = setting_cap(info, "max_adapters_per_job")
        if cap is not None and len(adapters) > cap:
            raise ValueError(f"names {len(adapters)} adapters, more than GENQ_MAX_ADAPTERS_PER_JOB ({cap}) allows")
        if len({adapter.id for adapter in adapters}) < len(adapters):
            raise ValueError("names an adapter more than once")
        return sorted(adapters, key=lambda adapter: str(adapter.id))

    @field_validator("score")
    @classmethod
    def _a_scorer_is_installed(cls, score: bool, info: ValidationInfo) -> bool:
        settings = (info.context or {}).get("settings")
        if score and settings is not None and default_model(settings, "clip") is None:
            raise ValueError("no clip model is installed to score with; see GET /api/v1/models")
        return score

    @field_validator("hires")
    @classmethod
    def _hires_fits(cls, hires: HiresSpec | None, info: ValidationInfo) -> HiresSpec | None:
        """A hires pass of a text-to-image job whose size is given (so that the result's
        size is checked here, against the caps), its steps defaulting to the job's."""
        if hires is None or not {"width", "height", "steps"} <= info.data.keys():
            return hires  # absent, or the size's own error says enough
        if info.data.get("init_image") is not None:
            raise ValueError("is for text-to-image jobs only (not with an init_image)")
        width, height = info.data["width"], info.data["height"]
        if width is None or height is None:
            raise ValueError("needs the job's width and height, the size of the first pass")
        result = hires_size(width, height, hires.scale)
        for name, size in zip(("max_width", "max_height"), result, strict=True):
            cap = setting_cap(info, name)
            if cap is not None and size > cap:
                raise ValueError(f"makes {result[0]}x{result[1]} images, more than GENQ_{name.upper()} ({cap}) allows")
        hires = hires if hires.steps is not None else hires.model_copy(update={"steps": info.data["steps"]})
        if hires.steps is not None and int(hires.steps * hires.strength) < 1:
            # diffusers runs the last strength x steps of the schedule: none would be no pass at all.
            raise ValueError(f"runs no step: steps ({hires.steps}) x strength ({hires.strength}) is below 1")
        return hires


def sized_by_init_image(
    params: dict[str, Any], sizes: Mapping[str, tuple[int, int]], settings: Settings
) -> dict[str, Any]:
    """Width and height left out default to the init image's size: scaled down to the
    caps if larger (keeping its aspect), in multiples of 8."""
    if "init_image" not in sizes or (params.get("width") and params.get("height")):
        return params
    width, height = sizes["init_image"]
    shrink = min(1.0, settings.max_width / width, settings.max_height / height)
    return {
        **params,
        "width": params.get("width") or max(64, int(width * shrink) // 8 * 8),
        "height": params.get("height") or max(64, int(height * shrink) // 8 * 8),
    }


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
            # The adapter set: ids and scales, in the spec's (id) order.
            **{("adapters", index, "id"): str for index in range(ADAPTER_SLOTS)},
            **{("adapters", index, "scale"): float for index in range(ADAPTER_SLOTS)},
            ("width",): int,
            ("height",): int,
            ("steps",): int,
            ("scheduler",): str,
            ("guidance_scale",): float,
            # The mode (text-to-image, image-to-image, inpainting) and how much is repainted;
            # width and height are the input images' sizes once given.
            ("init_image",): NonEmpty,
            ("mask_image",): NonEmpty,
            ("strength",): float,
            ("mask_blur",): int,
            # A hires pass, and its shape.
            ("hires", "upscaler"): str,
            ("hires", "scale"): float,
            ("hires", "strength"): float,
            ("hires", "steps"): int,
        },
        size="num_images",
    ),
    references=(AdapterListReference("adapters", ADAPTER_SLOTS),),
    image_params=("init_image", "mask_image"),
    sized_by_inputs=sized_by_init_image,
)
