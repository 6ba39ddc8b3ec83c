"""The HTML pages: the submit form with recent jobs, the text-generation form, a
job's live page, the job list, the fine-tuning form (upload images and start a
LoRA training), a training job's loss curve as SVG, and the owner's adapters.

Forms carry a CSRF token; the pages hold no inline script (web/static/job.js
follows the job's event stream). Validation is web.submission's and uploads are
db.uploads', the same as the API's.
"""

import dataclasses
import uuid
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from db.adapters import get_adapter, list_adapters
from db.datasets import create_dataset
from db.jobs import get_job
from db.losses import loss_series
from db.models import Adapter, Job
from db.registry import JOB_MODEL_KINDS, default_model, list_models
from db.quotas import QuotaExceeded
from db.specs import LR_SCHEDULERS, SCHEDULERS, AdapterRef, FinetuneSpec, GenerateSpec, TextgenSpec
from db.uploads import UploadedFile, UploadLimits, UploadRefused, prepare_dataset
from web.api.datasets import REFUSAL_STATUS
from web.api.serializers import serialize_job
from web.cancel import cancel_owned_job
from web.context import current_job_limits, current_owner, db_session, platform
from web.loss_chart import loss_chart_svg
from web.paging import InvalidCursor, decode_cursor, encode_cursor, page_of_jobs
from web.submission import (
    FieldError,
    ReferenceNotFound,
    Submission,
    SubmissionRejected,
    submit_job,
    validate_submission,
)

pages = Blueprint("pages", __name__)

RECENT_JOBS = 10
JOBS_PER_PAGE = 25
ADAPTERS_PER_PAGE = 25
# The newest adapters offered in the form's list; /adapters links to any other.
ADAPTER_CHOICES = 100
FORM_PARAMS = (
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
FINETUNE_FORM_PARAMS = (
    "instance_prompt",
    "validation_prompt",
    "resolution",
    "max_train_steps",
    "learning_rate",
    "rank",
    "batch_size",
    "lr_scheduler",
    "seed",
    "adapter_name",
)
# Pre-filled from the specs' own defaults, so the forms and the API cannot disagree.
FORM_DEFAULTS = {
    **{name: str(GenerateSpec.model_fields[name].default) for name in ("steps", "guidance_scale", "num_images")},
    "adapter_scale": str(AdapterRef.model_fields["scale"].default),
}
FINETUNE_FORM_DEFAULTS = {
    name: str(FinetuneSpec.model_fields[name].default)
    for name in ("resolution", "max_train_steps", "learning_rate", "rank", "batch_size", "lr_scheduler")
}
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
TEXT_FORM_DEFAULTS = {name: str(TextgenSpec.model_fields[name].default) for name in TEXT_FORM_PARAMS[1:-1]}
# Params whose form inputs have other names, for showing an error next to its input.
INPUT_OF_PARAM = {"adapter.id": "adapter", "adapter.scale": "adapter_scale", "stop.0": "stop"}


def _params_from_form(form: MultiDict, names: tuple[str, ...], prompt: str) -> dict[str, Any]:
    # A blank optional field means "the default", as leaving it out does in the API;
    # a blank prompt is kept so that it is reported as missing.
    params = {}
    for name in names:
        value = form.get(name, "")
        if value.strip() or name == prompt:
            params[name] = value
    return params


def _generate_params_from_form(form: MultiDict) -> dict[str, Any]:
    params = _params_from_form(form, FORM_PARAMS, prompt="prompt")
    if form.get("adapter"):
        scale = form.get("adapter_scale", "")
        params["adapter"] = {"id": form["adapter"], **({"scale": scale} if scale.strip() else {})}
    return params


def _form_errors(errors: list[FieldError]) -> dict[str, str]:
    """Messages keyed by the name of the input they are about."""
    by_input = {}
    for error in errors:
        param = error.field.removeprefix("params.")
        by_input[INPUT_OF_PARAM.get(param, param)] = error.message
    return by_input


def _render_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = platform().settings
    session = db_session()
    recent = page_of_jobs(session, owner=current_owner(), limit=RECENT_JOBS).jobs
    html = render_template(
        "index.html",
        values={**FORM_DEFAULTS, "model": default_model(settings) or "", **values},
        errors=errors,
        models=[entry for entry in list_models(settings) if entry.kind == JOB_MODEL_KINDS["generate"]],
        schedulers=SCHEDULERS,
        adapters=list_adapters(session, owner=current_owner(), limit=ADAPTER_CHOICES),
        settings=settings,
        recent_jobs=recent,
    )
    return html, status


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
    return _render_form(values=values, errors={})


@pages.post("/jobs")
def submit_form() -> Response | tuple[str, int]:
    services = platform()
    body = {
        "kind": "generate",
        "model": request.form.get("model") or None,
        "params": _generate_params_from_form(request.form),
    }
    values = request.form.to_dict()
    try:
        submission = validate_submission(body, services.settings)
    except SubmissionRejected as rejected:
        # Field errors are shown next to the inputs, keyed by the input's name.
        return _render_form(values=values, errors=_form_errors(rejected.errors), status=422)
    try:
        job = _submit(submission)
    except SubmitRefused as refused:
        return _render_form(values=values, errors=refused.errors, status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)


class SubmitRefused(Exception):
    """submit_job's refusal as a form shows it: messages by input, and the status."""

    def __init__(self, error: QuotaExceeded | ReferenceNotFound | SubmissionRejected) -> None:
        super().__init__(str(error))
        if isinstance(error, QuotaExceeded):
            self.errors, self.status = {"quota": error.message}, 429
        elif isinstance(error, ReferenceNotFound):
            self.errors, self.status = _form_errors([FieldError(error.field, str(error))]), 404
        else:
            self.errors, self.status = _form_errors(error.errors), 422


def _submit(submission: Submission) -> Job:
    """Create and announce the job, or raise SubmitRefused with nothing written."""
    session = db_session()
    try:
        job, _created = submit_job(
            session, platform().celery, owner=current_owner(), submission=submission, limits=current_job_limits()
        )
    except (QuotaExceeded, ReferenceNotFound, SubmissionRejected) as error:
        session.rollback()  # also the rows of a dataset uploaded with the form, flushed in this session
        raise SubmitRefused(error) from None
    return job


def _render_text_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = platform().settings
    html = render_template(
        "text.html",
        values={**TEXT_FORM_DEFAULTS, "model": default_model(settings, JOB_MODEL_KINDS["textgen"]) or "", **values},
        errors=errors,
        models=[entry for entry in list_models(settings) if entry.kind == JOB_MODEL_KINDS["textgen"]],
        settings=settings,
        recent_jobs=page_of_jobs(db_session(), owner=current_owner(), limit=RECENT_JOBS).jobs,
    )
    return html, status


@pages.get("/text")
def text_page() -> tuple[str, int]:
    return _render_text_form(values={}, errors={})


@pages.post("/text")
def text_submit() -> Response | tuple[str, int]:
    params = _params_from_form(request.form, TEXT_FORM_PARAMS, prompt="prompt")
    if request.form.get("stop"):
        params["stop"] = [request.form["stop"]]
    body = {"kind": "textgen", "model": request.form.get("model") or None, "params": params}
    values = request.form.to_dict()
    try:
        submission = validate_submission(body, platform().settings)
    except SubmissionRejected as rejected:
        return _render_text_form(values, errors=_form_errors(rejected.errors), status=422)
    try:
        job = _submit(submission)
    except SubmitRefused as refused:
        return _render_text_form(values, errors=refused.errors, status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)


@pages.get("/jobs")
def jobs_page() -> str:
    try:
        page = page_of_jobs(
            db_session(), owner=current_owner(), limit=JOBS_PER_PAGE, cursor=request.args.get("cursor")
        )
    except InvalidCursor:
        abort(400, "That page link is not valid any more; start from the first page.")
    return render_template("jobs.html", page=page)


@pages.post("/jobs/<uuid:job_id>/cancel")
def cancel_form(job_id: uuid.UUID) -> Response:
    # A job that finished meanwhile is simply shown finished; only a missing one is an error.
    if cancel_owned_job(db_session(), platform(), job_id, owner=current_owner()) == "not_found":
        abort(404)
    return redirect(url_for("pages.job_page", job_id=job_id), code=303)


@pages.get("/jobs/<uuid:job_id>")
def job_page(job_id: uuid.UUID) -> str:
    session = db_session()
    job = get_job(session, job_id, owner=current_owner())
    if job is None:
        abort(404)
    return render_template("job.html", job=serialize_job(session, platform().storage, job))


def _render_finetune_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = platform().settings
    image_models = [entry for entry in list_models(settings) if entry.kind == JOB_MODEL_KINDS["finetune"]]
    html = render_template(
        "finetune.html",
        values={**FINETUNE_FORM_DEFAULTS, "model": default_model(settings) or "", **values},
        errors=errors,
        models=image_models,
        lr_schedulers=LR_SCHEDULERS,
        settings=settings,
    )
    return html, status


@pages.get("/finetune")
def finetune_page() -> tuple[str, int]:
    return _render_finetune_form(values={}, errors={})


@pages.post("/finetune")
def finetune_submit() -> Response | tuple[str, int]:
    """Upload the images as a dataset and start a LoRA training on it, as
    POST /api/v1/datasets and then POST /api/v1/jobs would: the dataset and the job
    are committed together, or neither is."""
    services = platform()
    values = request.form.to_dict()
    params = _params_from_form(request.form, FINETUNE_FORM_PARAMS, prompt="instance_prompt")
    # A stand-in dataset id: the params are checked before any image is decoded or stored.
    body = {
        "kind": "finetune",
        "model": request.form.get("model") or None,
        "params": {**params, "dataset_id": str(uuid.uuid4())},
    }
    try:
        submission = validate_submission(body, services.settings)
    except SubmissionRejected as rejected:
        return _render_finetune_form(values, errors=_form_errors(rejected.errors), status=422)
    files = [UploadedFile(file.filename or "", file.stream) for file in request.files.getlist("files")]
    try:
        images = prepare_dataset(files, UploadLimits.from_settings(services.settings))
    except UploadRefused as refused:
        return _render_finetune_form(values, errors={"files": refused.message}, status=REFUSAL_STATUS[refused.code])
    dataset = create_dataset(db_session(), services.storage, owner=current_owner(), name=None, images=images)
    submission = dataclasses.replace(submission, params={**submission.params, "dataset_id": str(dataset.id)})
    try:
        job = _submit(submission)
    except SubmitRefused as refused:
        return _render_finetune_form(values, errors=refused.errors, status=refused.status)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)


@pages.get("/jobs/<uuid:job_id>/loss.svg")
def loss_chart(job_id: uuid.UUID) -> Response:
    """A training job's loss curve so far; job.js reloads it as loss events arrive."""
    session = db_session()
    job = get_job(session, job_id, owner=current_owner())
    if job is None or job.kind != "finetune":
        abort(404)
    svg = loss_chart_svg(loss_series(session, job.id))
    return Response(svg, mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})


@pages.get("/adapters")
def adapters_page() -> str:
    cursor = request.args.get("cursor")
    try:
        before = decode_cursor(cursor) if cursor else None
    except InvalidCursor:
        abort(400, "That page link is not valid any more; start from the first page.")
    # One more than shown tells whether an older page exists.
    adapters = list_adapters(db_session(), owner=current_owner(), before=before, limit=ADAPTERS_PER_PAGE + 1)
    next_cursor = encode_cursor(adapters[ADAPTERS_PER_PAGE - 1]) if len(adapters) > ADAPTERS_PER_PAGE else None
    return render_template("adapters.html", adapters=adapters[:ADAPTERS_PER_PAGE], next_cursor=next_cursor)
