"""AUTOMATIC1111-compatible endpoints under /sdapi/v1, for the clients of its web
UI's API (Open WebUI, Krita plugins, SillyTavern, bots, the webuiapi package):
txt2img (hires fix included) and img2img as generate jobs, extra-single-image as
an upscale job, the caller's current job's progress and interrupt, and the model,
sampler, scheduler, upscaler and LoRA lists; options and png-info are
a1111_options.py and a1111_png_info.py. docs/compatibility.md maps every field.
Errors come as `{"error", "detail"}`.
"""

import base64
import json
import uuid
from typing import Annotated, Any, Literal

from flask import Blueprint
from pydantic import ConfigDict, Field

from db.a1111_options import chosen_checkpoint
from db.adapters import list_adapters
from db.eta import job_position
from db.infotext import SAMPLERS, SCHEDULER_OF_SAMPLER
from db.job_json import describe_position, describe_progress, isoformat
from db.job_signals import PREVIEW_DATA_URI_PREFIX, latest_preview
from db.jobs import list_jobs
from db.kinds.upscale import LANCZOS, MAX_SCALE
from db.models import Job, JobStatus
from db.refusals import FieldError, SubmissionRejected
from db.registry import default_model, list_models
from web.cancel import cancel_owned_job
from web.compat.bodies import CompatBody, JobParam, present, reworded
from web.compat.jobs import artifact_bytes, run_compat_job
from web.compat.loras import lora_json, lora_params
from web.context import current_owner, db_session, platform

a1111_api = Blueprint("a1111", __name__, url_prefix="/sdapi/v1")

# The one sigma schedule genq offers: the one the model's scheduler config says.
SCHEDULERS = [
    {"name": "automatic", "label": "Automatic", "aliases": None, "default_rho": -1, "need_inner_model": False}
]
# GET /sdapi/v1/loras lists at most this many of the caller's adapters, newest first.
MAX_LISTED_LORAS = 500


def a1111_blueprint() -> Blueprint:
    """The blueprint with every route on it; the other modules' routes are added
    when imported, here, as web.api does."""
    from web.compat import a1111_options, a1111_png_info  # noqa: F401

    return a1111_api


# A1111's name of genq's lanczos, and the names that mean it here: its "None" still
# resizes with Lanczos to the size asked for, and its latent upscalers (the default of
# hr_upscaler) have no pixel-space equivalent in genq, so they upscale with Lanczos.
LANCZOS_NAME = "Lanczos"
LANCZOS_ALIASES = ("lanczos", "none", "latent")


def upscaler_named(name: str | None, field: str) -> str:
    """The genq upscaler (an upscale job's `upscaler`) for an A1111 upscaler name: an
    upscaler model of the registry by its name, else lanczos for the names that mean it."""
    if name is not None and name in _upscaler_models():
        return name
    if name is None or name.lower().startswith(LANCZOS_ALIASES):
        return LANCZOS
    message = f"{name!r} is not offered; see GET /sdapi/v1/upscalers"
    raise SubmissionRejected("unknown_upscaler", [FieldError(field, message)])


def _upscaler_models() -> list[str]:
    return [entry.name for entry in list_models(platform().settings) if entry.kind == "upscaler"]


class Txt2ImgRequest(CompatBody):
    """POST /sdapi/v1/txt2img."""

    model_config = ConfigDict(extra="allow")  # the whole request is echoed back as `parameters`

    prompt: JobParam = None
    negative_prompt: JobParam = None
    width: JobParam = None
    height: JobParam = None
    steps: JobParam = None
    cfg_scale: JobParam = None
    seed: JobParam = None  # -1: drawn at submit
    batch_size: Annotated[int | None, reworded("must be an integer")] = None
    n_iter: Annotated[int | None, reworded("must be an integer")] = None
    sampler_name: str | None = None
    sampler_index: str | None = None
    override_settings: Annotated[dict[str, Any] | None, reworded("must be an object")] = None
    # The hires fix: genq's `hires` pass.
    enable_hr: Annotated[bool, reworded("must be a boolean")] = False
    hr_scale: JobParam = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: JobParam = None  # 0: the first pass's steps
    denoising_strength: JobParam = None

    @property
    def batches(self) -> tuple[int, int]:
        """(batch_size, n_iter), A1111's defaults filled in."""
        return self.batch_size or 1, self.n_iter or 1

    @property
    def sampler(self) -> str | None:
        return self.sampler_name or self.sampler_index

    @property
    def checkpoint(self) -> Any:
        """The model asked for, if the call asks for one."""
        return (self.override_settings or {}).get("sd_model_checkpoint")

    def echoed(self) -> dict[str, Any]:
        """The request as the answer's `parameters` repeat it."""
        return self.model_dump(exclude_unset=True)

    def job_params(self) -> dict[str, Any]:
        batch_size, n_iter = self.batches
        params: dict[str, Any] = {"prompt": self.prompt, "num_images": batch_size * n_iter}
        return params | present(
            {
                "negative_prompt": self.negative_prompt,
                "width": self.width,
                "height": self.height,
                "steps": self.steps,
                "guidance_scale": self.cfg_scale,
                "seed": None if self.seed == -1 else self.seed,
                "scheduler": self._scheduler(),
                "hires": self._hires(),
            }
        )

    def _hires(self) -> dict[str, Any] | None:
        if not self.enable_hr:
            return None
        return present(
            {
                "scale": self.hr_scale,
                "upscaler": upscaler_named(self.hr_upscaler, "hr_upscaler"),
                "strength": self.denoising_strength,
                "steps": self.hr_second_pass_steps or None,
            }
        )

    def _scheduler(self) -> str | None:
        if self.sampler is None:
            return None  # the model's own
        scheduler = SCHEDULER_OF_SAMPLER.get(self.sampler.lower())
        if scheduler is None:
            field = "sampler_name" if self.sampler_name else "sampler_index"
            message = f"{self.sampler!r} is not offered; see GET /sdapi/v1/samplers"
            raise SubmissionRejected("unknown_sampler", [FieldError(field, message)])
        return scheduler


class Img2ImgRequest(Txt2ImgRequest):
    """POST /sdapi/v1/img2img: txt2img's fields and the image to start from."""

    prompt: JobParam = ""  # A1111's default: the image alone says what to paint
    init_images: Annotated[list[str], Field(min_length=1, max_length=1), reworded("must be a list of one base64 image")]
    mask: Annotated[str | None, reworded("must be a base64 image")] = None
    denoising_strength: JobParam = None
    mask_blur: JobParam = None
    # 1 repaints the black of the mask; genq repaints its white only.
    inpainting_mask_invert: Annotated[Literal[0] | None, reworded("must be 0: genq repaints the mask's white")] = None
    include_init_images: Annotated[bool, reworded("must be a boolean")] = False

    def job_params(self) -> dict[str, Any]:
        params = super().job_params() | {"init_image": as_data_uri(self.init_images[0])}
        return params | present(
            {
                # An empty one is none, as A1111 reads it.
                "mask_image": as_data_uri(self.mask) if self.mask else None,
                "strength": self.denoising_strength,
                "mask_blur": self.mask_blur,
            }
        )

    def echoed(self) -> dict[str, Any]:
        """A1111 echoes the images back only when asked to."""
        if self.include_init_images:
            return super().echoed()
        return super().echoed() | {"init_images": None, "mask": None}


def as_data_uri(image: str) -> str:
    """A1111 takes an image as plain base64 or as a data URI; genq's params take the
    URI (the format is read from the bytes, whatever the URI says)."""
    return image if image.startswith("data:") else f"data:image/png;base64,{image}"


def _run(body: Txt2ImgRequest) -> Job:
    """The body's generate job, as the caller's, with its prompt's LoRA applied, on
    the model it asks for, else the caller's chosen one (POST /sdapi/v1/options),
    else the default image model."""
    params = body.job_params()
    model = body.checkpoint
    if model is None:
        model = chosen_checkpoint(db_session(), owner=current_owner())
    params |= lora_params(
        db_session(),
        params["prompt"],
        owner=current_owner(),
        model=model if model is not None else default_model(platform().settings, "image"),
    )
    return run_compat_job("generate", model, params)


def _answer(body: Txt2ImgRequest, job: Job) -> dict[str, Any]:
    images = [base64.b64encode(artifact_bytes(artifact)).decode("ascii") for artifact in job.artifacts]
    spec = job.params
    seeds = [artifact.seed for artifact in job.artifacts]
    size = (job.artifacts[0].width, job.artifacts[0].height) if job.artifacts else (spec["width"], spec["height"])
    batch_size, n_iter = body.batches
    parameters = body.echoed() | {
        "seed": spec["seed"],
        "width": size[0],
        "height": size[1],
        "steps": spec["steps"],
        "cfg_scale": spec["guidance_scale"],
        "batch_size": batch_size,
        "n_iter": n_iter,
    }
    info = {
        "prompt": spec["prompt"],
        "all_prompts": [spec["prompt"]] * len(images),
        "negative_prompt": spec["negative_prompt"],
        "seed": spec["seed"],
        "all_seeds": seeds,
        "subseed": -1,
        "width": size[0],
        "height": size[1],
        "sampler_name": body.sampler,
        "cfg_scale": spec["guidance_scale"],
        "steps": spec["steps"],
        "batch_size": batch_size,
        "denoising_strength": spec.get("strength"),
        "sd_model_name": job.model,
        "job_timestamp": isoformat(job.created_at),
        "genq_job_id": str(job.id),
    }
    return {"images": images, "parameters": parameters, "info": json.dumps(info)}


@a1111_api.post("/txt2img")
def txt2img() -> dict[str, Any]:
    body = Txt2ImgRequest.from_request()
    return _answer(body, _run(body))


@a1111_api.post("/img2img")
def img2img() -> dict[str, Any]:
    body = Img2ImgRequest.from_request()
    return _answer(body, _run(body))


def _current_job() -> Job | None:
    """The caller's current image job: their running one, else their newest queued one."""
    for status in ("running", "queued"):
        jobs = list_jobs(db_session(), owner=current_owner(), status=status, kind="generate", limit=1)
        if jobs:
            return jobs[0]
    return None


@a1111_api.get("/progress")
def progress() -> dict[str, Any]:
    job = _current_job()
    if job is None:
        state = {
            "skipped": False,
            "interrupted": False,
            "job": "",
            "job_count": 0,
            "job_timestamp": "0",
            "job_no": 0,
            "sampling_step": 0,
            "sampling_steps": 0,
        }
        return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None, "textinfo": None}
    progress_now = describe_progress(job)
    eta = describe_position(job_position(db_session(), job)).eta_seconds
    state = {
        "skipped": False,
        "interrupted": job.cancel_requested,
        "job": str(job.id),
        "job_count": 1,
        "job_timestamp": isoformat(job.created_at),
        "job_no": 0,
        "sampling_step": progress_now.step,
        "sampling_steps": progress_now.total or job.params.get("steps", 0),
    }
    return {
        "progress": progress_now.fraction,
        "eta_relative": eta or 0.0,
        "state": state,
        # Only while it runs: a job put back in the queue keeps its last attempt's preview.
        "current_image": _current_image(job.id)
        if job.status == JobStatus.RUNNING and not job.cancel_requested
        else None,
        "textinfo": None,
    }


def _current_image(job_id: uuid.UUID) -> str | None:
    """The job's newest preview as A1111 sends it: the image in plain base64 (WebP,
    which its clients open with Pillow as they do its PNGs)."""
    preview = latest_preview(platform().settings.broker_url, job_id)
    return preview["image"].removeprefix(PREVIEW_DATA_URI_PREFIX) if preview is not None else None


@a1111_api.post("/interrupt")
def interrupt() -> dict[str, Any]:
    """Cancel the caller's current image job; never anyone else's."""
    job = _current_job()
    if job is not None:
        cancel_owned_job(db_session(), platform(), job.id, owner=current_owner())
    return {}


@a1111_api.get("/sd-models")
def sd_models() -> list[dict[str, Any]]:
    return [
        {
            "title": entry.name,
            "model_name": entry.name,
            "hash": None,
            "sha256": None,
            "filename": entry.name,
            "config": None,
        }
        for entry in list_models(platform().settings)
        if entry.kind == "image"
    ]


@a1111_api.get("/samplers")
def samplers() -> list[dict[str, Any]]:
    return [{"name": name, "aliases": aliases, "options": {}} for name, (_, aliases) in SAMPLERS.items()]


@a1111_api.get("/schedulers")
def schedulers() -> list[dict[str, Any]]:
    return SCHEDULERS


@a1111_api.get("/loras")
def loras() -> list[dict[str, Any]]:
    """The caller's adapters: what `<lora:NAME:WEIGHT>` in their prompts may name."""
    return [
        lora_json(adapter) for adapter in list_adapters(db_session(), owner=current_owner(), limit=MAX_LISTED_LORAS)
    ]


@a1111_api.get("/upscalers")
def upscalers() -> list[dict[str, Any]]:
    """Lanczos and the registry's upscaler models (no paths: they are this server's)."""
    return [
        {"name": name, "model_name": model, "model_path": None, "model_url": None, "scale": MAX_SCALE}
        for name, model in [(LANCZOS_NAME, None), *((model, model) for model in _upscaler_models())]
    ]


class ExtraSingleImageRequest(CompatBody):
    """POST /sdapi/v1/extra-single-image: the upscale of A1111's Extras tab."""

    image: Annotated[str, reworded("must be a base64-encoded image")]
    # 0: by upscaling_resize; 1 (to upscaling_resize_w x upscaling_resize_h) is not offered.
    resize_mode: Annotated[int, reworded("must be 0 (scale by upscaling_resize)")] = 0
    upscaling_resize: JobParam = 2
    upscaler_1: str | None = None

    def job_params(self) -> dict[str, Any]:
        if self.resize_mode != 0:
            message = "only 0 (scale by upscaling_resize) is offered"
            raise SubmissionRejected("validation_error", [FieldError("resize_mode", message)])
        return {
            "image": as_data_uri(self.image),
            "scale": self.upscaling_resize,
            "upscaler": upscaler_named(self.upscaler_1, "upscaler_1"),
        }


@a1111_api.post("/extra-single-image")
def extra_single_image() -> dict[str, Any]:
    body = ExtraSingleImageRequest.from_request()
    job = run_compat_job("upscale", None, body.job_params())
    [artifact] = job.artifacts
    return {
        "html_info": f"<p>{job.params['upscaler']} x{job.params['scale']}: {artifact.width}x{artifact.height}</p>",
        "image": base64.b64encode(artifact_bytes(artifact)).decode("ascii"),
    }
