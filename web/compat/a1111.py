"""AUTOMATIC1111-compatible endpoints under /sdapi/v1, for the clients of its web
UI's API (Open WebUI, Krita plugins, SillyTavern, bots): txt2img as a generate job,
the caller's current job's progress and interrupt, and the model and sampler lists.
docs/compatibility.md maps every field. Errors come as `{"error", "detail"}`.
"""

import base64
import json
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from db.job_json import isoformat, position_json, progress_json
from db.jobs import list_jobs
from db.models import Job
from db.registry import list_models
from web.cancel import cancel_owned_job
from web.compat.errors import CompatError, genq_error
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
    name.lower(): scheduler
    for sampler, (scheduler, aliases) in SAMPLERS.items()
    for name in (sampler, *aliases)
}


@a1111_api.post("/txt2img")
def txt2img() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise CompatError(400, "invalid_json", "the body must be a JSON object")
    batch_size, n_iter = body.get("batch_size") or 1, body.get("n_iter") or 1
    if not isinstance(batch_size, int) or not isinstance(n_iter, int):
        raise CompatError(422, "validation_error", "batch_size and n_iter must be integers")
    params: dict[str, Any] = {"prompt": body.get("prompt"), "num_images": batch_size * n_iter}
    for field, name in {"negative_prompt": "negative_prompt", "width": "width", "height": "height",
                        "steps": "steps", "cfg_scale": "guidance_scale"}.items():
        if body.get(field) is not None:
            params[name] = body[field]
    if body.get("seed") not in (None, -1):
        params["seed"] = body["seed"]
    sampler = body.get("sampler_name") or body.get("sampler_index")
    if sampler is not None:
        scheduler = SCHEDULER_OF_SAMPLER.get(str(sampler).lower())
        if scheduler is None:
            message = f"sampler {sampler!r} is not offered; see GET /sdapi/v1/samplers"
            raise CompatError(422, "unknown_sampler", message)
        params["scheduler"] = scheduler
    overrides = body.get("override_settings") or {}
    if not isinstance(overrides, dict):
        raise CompatError(422, "validation_error", "override_settings: must be an object")
    model = overrides.get("sd_model_checkpoint")
    job = run_compat_job("generate", model, params)

    images = [base64.b64encode(artifact_bytes(artifact)).decode("ascii") for artifact in job.artifacts]
    spec = job.params
    seeds = [artifact.seed for artifact in job.artifacts]
    size = (job.artifacts[0].width, job.artifacts[0].height) if job.artifacts else (spec["width"], spec["height"])
    parameters = body | {"seed": spec["seed"], "width": size[0], "height": size[1], "steps": spec["steps"],
                         "cfg_scale": spec["guidance_scale"], "batch_size": batch_size, "n_iter": n_iter}
    info = {
        "prompt": spec["prompt"],
        "all_prompts": [spec["prompt"]] * len(images),
        "negative_prompt": spec["negative_prompt"],
        "seed": spec["seed"],
        "all_seeds": seeds,
        "subseed": -1,
        "width": size[0],
        "height": size[1],
        "sampler_name": sampler,
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
        state = {"skipped": False, "interrupted": False, "job": "", "job_count": 0, "job_timestamp": "0",
                 "job_no": 0, "sampling_step": 0, "sampling_steps": 0}
        return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None, "textinfo": None}
    progress_now = progress_json(job)
    eta = position_json(db_session(), job)["eta_seconds"]
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
    return {"progress": progress_now["fraction"], "eta_relative": eta or 0.0, "state": state,
            "current_image": None, "textinfo": None}


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
        {"title": entry.name, "model_name": entry.name, "hash": None, "sha256": None,
         "filename": entry.name, "config": None}
        for entry in list_models(platform().settings)
        if entry.kind == "image"
    ]


@a1111_api.get("/samplers")
def samplers() -> list[dict[str, Any]]:
    return [{"name": name, "aliases": aliases, "options": {}} for name, (_, aliases) in SAMPLERS.items()]


@a1111_api.errorhandler(CompatError)
def _compat_error(error: CompatError) -> tuple[dict[str, Any], int, dict[str, str]]:
    return {"error": error.code, "detail": error.message}, error.status, error.headers


@a1111_api.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[dict[str, Any], int]:
    return {"error": (error.name or "error").lower().replace(" ", "_"), "detail": error.description}, error.code or 500


@a1111_api.after_request
def _in_a1111_shape(response: Response) -> Response:
    """Errors answered before a view ran (auth, rate limits, outages) in A1111's shape."""
    found = genq_error(response)
    if found is not None:
        code, message = found
        response.set_data(json.dumps({"error": code, "detail": message}))
    return response
