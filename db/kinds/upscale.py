"""The `upscale` kind: an image made larger, by Pillow's Lanczos filter (no model) or
by one of the registry's upscaler models (a diffusers upscale pipeline), on its own
queue. The upscaler's name is the job's model. What upscalers and scales a job may
name is defined here once, for upscale jobs and a generate job's hires pass alike.
Never imports torch.
"""

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo

from db.input_images import InputImage
from db.kinds.definition import JobKind
from db.refusals import FieldError, SubmissionRejected
from db.registry import find_model
from db.settings import Settings
from db.specs import MAX_SEED, MODELS_MARK, JsonBody, Prompt, random_seed

UPSCALE_QUEUE = "upscale"
# Pillow's Lanczos resampling: needs no model, takes any scale in range.
LANCZOS = "lanczos"
MIN_SCALE, MAX_SCALE = 1.25, 4.0
# An upscaler model makes an image 2 or 4 times larger (a pass of its own factor,
# repeated, then resized to the exact size), as AUTOMATIC1111 offers them.
MODEL_SCALES = (2, 4)


def check_upscaler(name: str, info: ValidationInfo) -> str:
    """`lanczos`, or the name of an upscaler model in the registry. Checked where
    settings are given (at submit); the worker re-reads stored params without them."""
    settings = (info.context or {}).get("settings")
    if name == LANCZOS or settings is None:
        return name
    entry = find_model(settings, name)
    if entry is None or entry.kind != "upscaler":
        raise ValueError(f"must be {LANCZOS!r} or an upscaler model; see GET /api/v1/models")
    return name


def check_scale(scale: float, info: ValidationInfo) -> float:
    """Any scale in range for lanczos; 2 or 4 for an upscaler model (the spec's
    `upscaler` field is validated first; when it failed, its own error is enough)."""
    upscaler = info.data.get("upscaler")
    if upscaler is not None and upscaler != LANCZOS and scale not in MODEL_SCALES:
        raise ValueError(f"must be 2 or 4 for the upscaler model {upscaler!r}")
    return scale


def upscaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The size of an image `scale` times as large, to the nearest pixel."""
    return round(width * scale), round(height * scale)


# A spec's `upscaler` must be declared before its `scale`, whose check reads it.
Upscaler = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="lanczos (Pillow, no model), or an upscaler model's name (GET /api/v1/models, kind upscaler)",
        json_schema_extra={MODELS_MARK: {"kind": "upscaler", "also": [LANCZOS]}},
    ),
    AfterValidator(check_upscaler),
]
Scale = Annotated[
    float,
    Field(ge=MIN_SCALE, le=MAX_SCALE, description="1.25 to 4 with lanczos; 2 or 4 with an upscaler model"),
    AfterValidator(check_scale),
]


class UpscaleSpec(JsonBody):
    """Params of an upscale job: the image and how much larger it becomes, by what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # An upload id, or a data URI stored as one at submit.
    image: InputImage
    upscaler: Upscaler = LANCZOS
    scale: Scale = 2.0
    # What the image shows, for diffusion upscalers (they denoise with it); lanczos ignores it.
    prompt: Prompt = ""
    # Denoising steps of a diffusion upscaler (each pass); lanczos takes none.
    steps: int = Field(default=20, ge=1, le=150)
    # Drawn at submit time when absent, so every attempt makes the same image.
    seed: int = Field(default_factory=random_seed, ge=0, le=MAX_SEED)


def check_upscaled_size(
    params: dict[str, Any], sizes: Mapping[str, tuple[int, int]], settings: Settings
) -> dict[str, Any]:
    """The result's pixels within GENQ_MAX_UPSCALED_PIXELS, known once the image's size is."""
    width, height = upscaled_size(*sizes["image"], params["scale"])
    if width * height > settings.max_upscaled_pixels:
        message = (
            f"the result would be {width}x{height}, more than {settings.max_upscaled_pixels} pixels"
            " (GENQ_MAX_UPSCALED_PIXELS)"
        )
        raise SubmissionRejected("validation_error", [FieldError("params.scale", message)])
    return params


KIND = JobKind(
    name="upscale",
    spec=UpscaleSpec,
    queue=UPSCALE_QUEUE,
    model_kind="upscaler",
    model_param="upscaler",
    executor_module="worker.executors.upscale",
    steps_param="steps",
    eta_params=("scale",),
    image_params=("image",),
    sized_by_inputs=check_upscaled_size,
)
