"""The forms that start a generation: images on `/` (optionally with one of the
owner's adapters, preselected by /adapters' links) and text on `/text`."""

import uuid
from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from db.adapters import get_adapter, list_adapters
from db.jobs import list_jobs
from db.kinds.definition import JobKind
from db.kinds.generate import KIND as GENERATE
from db.kinds.generate import SCHEDULERS, AdapterRef, GenerateSpec
from db.kinds.textgen import KIND as TEXTGEN
from db.kinds.textgen import TextgenSpec
from db.models import Adapter
from db.refusals import Refusal
from db.registry import default_model, list_models
from web.context import current_owner, db_session, platform
from web.pages import pages
from web.pages.forms import RECENT_JOBS, form_errors, params_from_form, submit
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
}
TEXT_FORM_DEFAULTS = {name: str(TextgenSpec.model_fields[name].default) for name in TEXT_FORM_PARAMS[1:-1]}


def _models_of(kind: JobKind) -> list:
    return [entry for entry in list_models(platform().settings) if entry.kind == kind.model_kind]


def _render_image_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = platform().settings
    session = db_session()
    html = render_template(
        "index.html",
        values={**IMAGE_FORM_DEFAULTS, "model": default_model(settings) or "", **values},
        errors=errors,
        models=_models_of(GENERATE),
        schedulers=SCHEDULERS,
        adapters=list_adapters(session, owner=current_owner(), limit=ADAPTER_CHOICES),
        settings=settings,
        recent_jobs=page_of(list_jobs, session, owner=current_owner(), limit=RECENT_JOBS).rows,
    )
    return html, status


def _image_params_from_form(form: MultiDict) -> dict[str, Any]:
    params = params_from_form(form, IMAGE_FORM_PARAMS, prompt="prompt")
    if form.get("adapter"):
        scale = form.get("adapter_scale", "")
        params["adapter"] = {"id": form["adapter"], **({"scale": scale} if scale.strip() else {})}
    return params


def _own_adapter(text: str | None) -> Adapter | None:
    try:
        adapter_id = uuid.UUID(text or "")
    except ValueError:
        return None
    return get_adapter(db_session(), adapter_id, owner=current_owner())


@pages.get("/")
def index() -> tuple[str, int]:
    # /adapters' "generate with this" links here with ?adapter=<id>: preselect it and its model.
    adapter = _own_adapter(request.args.get("adapter"))
    values = {} if adapter is None else {"adapter": str(adapter.id), "model": adapter.base_model}
    return _render_image_form(values=values, errors={})


@pages.post("/jobs")
def submit_form() -> Response | tuple[str, int]:
    params = _image_params_from_form(request.form)
    body = {"kind": GENERATE.name, "model": request.form.get("model") or None, "params": params}
    try:
        job = submit(validate_submission(body, platform().settings))
    except Refusal as refused:
        # Shown next to the inputs, with the user's values kept.
        return _render_image_form(request.form.to_dict(), errors=form_errors(refused), status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)


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
        job = submit(validate_submission(body, platform().settings))
    except Refusal as refused:
        return _render_text_form(request.form.to_dict(), errors=form_errors(refused), status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)
