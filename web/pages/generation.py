"""The forms that start a generation: images on `/` (text-to-image, image-to-image
or inpainting with a painted mask; optionally with one of the owner's adapters,
preselected by /adapters' links), upscaling on `/upscale`, and text on `/text`.
A job page's "Use as input", "Upscale" and "Same settings again" links open them
filled in. Input images reach the job as the API's params do (web.pages.forms)."""

import uuid
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from db.adapters import get_adapter, list_adapters
from db.input_images import get_upload
from db.jobs import get_job, list_jobs
from db.kinds.definition import JobKind
from db.kinds.generate import DEFAULT_MASK_BLUR, DEFAULT_STRENGTH, SCHEDULERS, AdapterRef, GenerateSpec
from db.kinds.generate import KIND as GENERATE
from db.kinds.textgen import KIND as TEXTGEN
from db.kinds.textgen import TextgenSpec
from db.kinds.upscale import KIND as UPSCALE
from db.kinds.upscale import LANCZOS, UpscaleSpec
from db.models import Adapter
from db.refusals import FieldError, Refusal, SubmissionRejected
from db.registry import default_model, list_models
from db.storage import ObjectNotFound
from web.context import current_owner, db_session, platform
from web.pages import pages
from web.pages.forms import RECENT_JOBS, form_errors, image_param, params_from_form, source_preview_url, submit
from web.paging import page_of
from web.submission import validate_submission

# The newest adapters offered in the form's list; /adapters links to any other.
ADAPTER_CHOICES = 100
IMAGE_FORM_PARAMS = (
    "prompt",
    "negative_prompt",
    "width",
    "height",
    "steps",
    "guidance_scale",
    "num_images",
    "seed",
    "scheduler",
)
# The image form's modes, and the params each sends besides IMAGE_FORM_PARAMS.
TEXT_TO_IMAGE, IMAGE_TO_IMAGE, INPAINT = "txt2img", "img2img", "inpaint"
IMAGE_MODES = {TEXT_TO_IMAGE: "Text to image", IMAGE_TO_IMAGE: "Image to image", INPAINT: "Inpaint"}
MODE_PARAMS = {TEXT_TO_IMAGE: (), IMAGE_TO_IMAGE: ("strength",), INPAINT: ("strength", "mask_blur")}
UPSCALE_FORM_PARAMS = ("upscaler", "scale", "prompt", "steps", "seed")
TEXT_FORM_PARAMS = (
    "prompt",
    "max_new_tokens",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "num_return_sequences",
    "seed",
)
# Pre-filled from the specs' own defaults, so the forms and the API cannot disagree.
IMAGE_FORM_DEFAULTS = {
    **{name: str(GenerateSpec.model_fields[name].default) for name in ("steps", "guidance_scale", "num_images")},
    "adapter_scale": str(AdapterRef.model_fields["scale"].default),
    "mode": TEXT_TO_IMAGE,
    "strength": str(DEFAULT_STRENGTH),
    "mask_blur": str(DEFAULT_MASK_BLUR),
}
UPSCALE_FORM_DEFAULTS = {name: str(UpscaleSpec.model_fields[name].default) for name in ("upscaler", "scale", "steps")}
TEXT_FORM_DEFAULTS = {name: str(TextgenSpec.model_fields[name].default) for name in TEXT_FORM_PARAMS[1:-1]}


def _models_of(kind: JobKind) -> list:
    return [entry for entry in list_models(platform().settings) if entry.kind == kind.model_kind]


def _render_image_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = platform().settings
    session = db_session()
    values = {**IMAGE_FORM_DEFAULTS, "model": default_model(settings) or "", **values}
    html = render_template(
        "index.html",
        values=values,
        errors=errors,
        modes=IMAGE_MODES,
        init_image_preview=source_preview_url(values.get("init_image_source", "")),
        models=_models_of(GENERATE),
        schedulers=SCHEDULERS,
        adapters=list_adapters(session, owner=current_owner(), limit=ADAPTER_CHOICES),
        settings=settings,
        recent_jobs=page_of(list_jobs, session, owner=current_owner(), limit=RECENT_JOBS).rows,
    )
    return html, status


def _required_image(name: str, message: str) -> str:
    image = image_param(name)
    if image is None:
        raise SubmissionRejected("validation_error", [FieldError(f"params.{name}", message)])
    return image


def _image_params_from_form(form: MultiDict) -> dict[str, Any]:
    """The params of the form's mode; the images of the other modes are left out."""
    mode = form.get("mode", TEXT_TO_IMAGE)
    if mode not in IMAGE_MODES:
        raise SubmissionRejected("validation_error", [FieldError("mode", f"must be one of {', '.join(IMAGE_MODES)}")])
    params = params_from_form(form, IMAGE_FORM_PARAMS + MODE_PARAMS[mode], prompt="prompt")
    if form.get("adapter"):
        scale = form.get("adapter_scale", "")
        params["adapter"] = {"id": form["adapter"], **({"scale": scale} if scale.strip() else {})}
    if mode != TEXT_TO_IMAGE:
        params["init_image"] = _required_image("init_image", "choose an image to start from")
    if mode == INPAINT:
        params["mask_image"] = _required_image("mask_image", "paint over the part of the image to repaint")
    return params


def _same_settings(job_id: str, seed: str) -> dict[str, str]:
    """A generate job's params as the form's values ("Same settings again"), with the
    seed of the image it was asked from; its mask is painted again."""
    try:
        job = get_job(db_session(), uuid.UUID(job_id), owner=current_owner())
    except ValueError:
        job = None
    if job is None or job.kind != GENERATE.name:
        return {}
    params = job.params
    values = {name: str(params[name]) for name in IMAGE_FORM_PARAMS if params.get(name) is not None}
    values["model"] = job.model
    if params.get("adapters"):
        # The form applies one adapter: the job's first.
        first = params["adapters"][0]
        values |= {"adapter": first["id"], "adapter_scale": str(first["scale"])}
    if params.get("init_image"):
        mode = INPAINT if params.get("mask_image") else IMAGE_TO_IMAGE
        values |= {"mode": mode, "init_image_source": params["init_image"], "strength": str(params["strength"])}
    if params.get("mask_blur") is not None:
        values["mask_blur"] = str(params["mask_blur"])
    if seed.isdigit():
        values["seed"] = seed
    return values


def _own_adapter(text: str | None) -> Adapter | None:
    try:
        adapter_id = uuid.UUID(text or "")
    except ValueError:
        return None
    return get_adapter(db_session(), adapter_id, owner=current_owner())


@pages.get("/")
def index() -> tuple[str, int]:
    # /adapters' "generate with this" links here with ?adapter=<id>: preselect it and its model.
    # A job page's "Use as input" with ?mode=img2img&init_image_source=artifact:<job>/<index>,
    # its "Same settings again" with ?again=<job>&seed=<the image's>.
    adapter = _own_adapter(request.args.get("adapter"))
    values = {} if adapter is None else {"adapter": str(adapter.id), "model": adapter.base_model}
    values |= _same_settings(request.args["again"], request.args.get("seed", "")) if "again" in request.args else {}
    values |= {name: request.args[name] for name in ("mode", "init_image_source") if name in request.args}
    return _render_image_form(values=values, errors={})


@pages.post("/jobs")
def submit_form() -> Response | tuple[str, int]:
    try:
        params = _image_params_from_form(request.form)
        body = {"kind": GENERATE.name, "model": request.form.get("model") or None, "params": params}
        job = submit(validate_submission(body, platform().settings, coerce_types=True))
    except Refusal as refused:
        # Shown next to the inputs, with the user's values kept.
        return _render_image_form(request.form.to_dict(), errors=form_errors(refused), status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)


def _render_upscale_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    values = {**UPSCALE_FORM_DEFAULTS, **values}
    html = render_template(
        "upscale.html",
        values=values,
        errors=errors,
        image_preview=source_preview_url(values.get("image_source", "")),
        upscalers=[LANCZOS, *(entry.name for entry in _models_of(UPSCALE))],
        settings=platform().settings,
        recent_jobs=page_of(list_jobs, db_session(), owner=current_owner(), limit=RECENT_JOBS).rows,
    )
    return html, status


@pages.get("/upscale")
def upscale_page() -> tuple[str, int]:
    # A job page's "Upscale" links here with ?image_source=artifact:<job>/<index>.
    values = {"image_source": request.args["image_source"]} if "image_source" in request.args else {}
    return _render_upscale_form(values=values, errors={})


@pages.post("/upscale")
def upscale_submit() -> Response | tuple[str, int]:
    try:
        params = params_from_form(request.form, UPSCALE_FORM_PARAMS, prompt="prompt")
        image = image_param("image")
        body = {"kind": UPSCALE.name, "params": params if image is None else {**params, "image": image}}
        job = submit(validate_submission(body, platform().settings, coerce_types=True))
    except Refusal as refused:
        return _render_upscale_form(request.form.to_dict(), errors=form_errors(refused), status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)


@pages.get("/uploads/<uuid:upload_id>.png")
def upload_image_file(upload_id: uuid.UUID) -> Response:
    """An input image of the owner's, shown by the forms that reuse it."""
    upload = get_upload(db_session(), upload_id, owner=current_owner())
    if upload is None:
        abort(404)
    try:
        data = platform().storage.get(upload.storage_key)
    except ObjectNotFound:
        abort(404)
    # An upload never changes once stored, and only its owner may fetch it.
    return Response(data, content_type=upload.content_type, headers={"Cache-Control": "private, max-age=86400"})


def _render_text_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = platform().settings
    html = render_template(
        "text.html",
        values={**TEXT_FORM_DEFAULTS, "model": default_model(settings, TEXTGEN.model_kind) or "", **values},
        errors=errors,
        models=_models_of(TEXTGEN),
        settings=settings,
        recent_jobs=page_of(list_jobs, db_session(), owner=current_owner(), limit=RECENT_JOBS).rows,
    )
    return html, status


@pages.get("/text")
def text_page() -> tuple[str, int]:
    return _render_text_form(values={}, errors={})


@pages.post("/text")
def text_submit() -> Response | tuple[str, int]:
    params = params_from_form(request.form, TEXT_FORM_PARAMS, prompt="prompt")
    if request.form.get("stop"):
        params["stop"] = [request.form["stop"]]
    body = {"kind": TEXTGEN.name, "model": request.form.get("model") or None, "params": params}
    try:
        job = submit(validate_submission(body, platform().settings, coerce_types=True))
    except Refusal as refused:
        return _render_text_form(request.form.to_dict(), errors=form_errors(refused), status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)
