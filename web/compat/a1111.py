"""AUTOMATIC1111-compatible endpoints under /sdapi/v1, for the clients of its web
UI's API (Open WebUI, Krita plugins, SillyTavern, bots): txt2img as a generate job,
the caller's current job's progress and interrupt, and the model and sampler lists.
docs/compatibility.md maps every field. Errors come as `{"error", "detail"}`.
"""

import base64
import json
from typing import Annotated, Any

from flask import Blueprint
from pydantic import ConfigDict

from db.eta import job_position
from db.job_json import isoformat, position_json, progress_json
from db.jobs import list_jobs
from db.models import Job
from db.refusals import FieldError, SubmissionRejected
from db.registry import list_models
from web.cancel import cancel_owned_job
from web.compat.bodies import CompatBody, JobParam, present, reworded
from web.compat.jobs import artifact_bytes, run_compat_job
from web.context import current_owner, db_session, platform

a1111_api = Blueprint("a1111", __name__, url_prefix="/sdapi/v1")

# A1111's sampler names (and its k-diffusion aliases) for genq's schedulers. Its
# "Karras" variants differ only in the sigma schedule, which genq leaves to the model.
SAMPLERS: dict[str, tuple[str, list[str]]] = {
    "Euler": ("euler", ["k_euler"]),
    "Euler a": ("euler_a", ["k_euler_a"]),
    "DDIM": ("ddim", []),
    "DPM++ 2M": ("dpmpp_2m", ["k_dpmpp_2m"]),
    "DPM++ 2M Karras": ("dpmpp_2m", ["k_dpmpp_2m_ka"]),
    "Heun": ("heun", ["k_heun"]),
    "PLMS": ("pndm", []),
    "UniPC": ("unipc", []),
}
SCHEDULER_OF_SAMPLER = {
    name.lower(): scheduler for sampler, (scheduler, aliases) in SAMPLERS.items() for name in (sampler, *aliases)
}


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

    @property
    def batches(self) -> tuple[int, int]:
        """(batch_size, n_iter), A1111's defaults filled in."""
        return self.batch_size or 1, self.n_iter or 1

    @property
    def sampler(self) -> str | None:
        return self.sampler_name or self.sampler_index

    @property
    def checkpoint(self) -> Any:
        """The model asked for; absent: the default image model."""
        return (self.override_settings or {}).get("sd_model_checkpoint")

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


@a1111_api.post("/txt2img")
def txt2img() -> dict[str, Any]:
    body = Txt2ImgRequest.from_request()
    job = run_compat_job("generate", body.checkpoint, body.job_params())

    images = [base64.b64encode(artifact_bytes(artifact)).decode("ascii") for artifact in job.artifacts]
    spec = job.params
    seeds = [artifact.seed for artifact in job.artifacts]
    size = (job.artifacts[0].width, job.artifacts[0].height) if job.artifacts else (spec["width"], spec["height"])
    batch_size, n_iter = body.batches
    parameters = body.model_dump(exclude_unset=True) | {
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
        "sd_model_name": job.model,
        "job_timestamp": isoformat(job.created_at),
        "genq_job_id": str(job.id),
    }
    return {"images": images, "parameters": parameters, "info": json.dumps(info)}


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
    progress_now = progress_json(job)
    eta = position_json(job_position(db_session(), job))["eta_seconds"]
    state = {
        "skipped": False,
        "interrupted": job.cancel_requested,
        "job": str(job.id),
        "job_count": 1,
        "job_timestamp": isoformat(job.created_at),
        "job_no": 0,
        "sampling_step": progress_now["step"],
        "sampling_steps": progress_now["total"] or job.params.get("steps", 0),
    }
    return {
        "progress": progress_now["fraction"],
        "eta_relative": eta or 0.0,
        "state": state,
        "current_image": None,
        "textinfo": None,
    }


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
