"""The HTML pages: the submit form with recent jobs, a job's live page, the job list.

Forms carry a CSRF token; the pages hold no inline script (web/static/job.js
polls the JSON API). Validation is web.submission's, the same as the API's.
"""

import uuid
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from db.jobs import get_job
from db.registry import default_model, list_models
from db.quotas import QuotaExceeded
from db.specs import SCHEDULERS, GenerateSpec
from web.api.serializers import serialize_job
from web.cancel import cancel_owned_job
from web.context import current_job_limits, current_owner, db_session, platform
from web.paging import InvalidCursor, page_of_jobs
from web.submission import SubmissionRejected, submit_job, validate_submission

pages = Blueprint("pages", __name__)

RECENT_JOBS = 10
JOBS_PER_PAGE = 25
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
# Pre-filled from the spec's own defaults, so the form and the API cannot disagree.
FORM_DEFAULTS = {
    name: str(GenerateSpec.model_fields[name].default)
    for name in ("steps", "guidance_scale", "num_images")
}


def _params_from_form(form: MultiDict) -> dict[str, Any]:
    # A blank optional field means "the default", as leaving it out does in the API;
    # a blank prompt is kept so that it is reported as missing.
    params = {}
    for name in FORM_PARAMS:
        value = form.get(name, "")
        if value.strip() or name == "prompt":
            params[name] = value
    return params


def _render_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    settings = platform().settings
    recent = page_of_jobs(db_session(), owner=current_owner(), limit=RECENT_JOBS).jobs
    html = render_template(
        "index.html",
        values={**FORM_DEFAULTS, "model": default_model(settings) or "", **values},
        errors=errors,
        models=list_models(settings),
        schedulers=SCHEDULERS,
        settings=settings,
        recent_jobs=recent,
    )
    return html, status


@pages.get("/")
def index() -> tuple[str, int]:
    return _render_form(values={}, errors={})


@pages.post("/jobs")
def submit_form() -> Response | tuple[str, int]:
    services = platform()
    body = {
        "kind": "generate",
        "model": request.form.get("model") or None,
        "params": _params_from_form(request.form),
    }
    try:
        submission = validate_submission(body, services.settings)
    except SubmissionRejected as rejected:
        # Field errors are shown next to the inputs, keyed by the input's name.
        errors = {error.field.removeprefix("params."): error.message for error in rejected.errors}
        return _render_form(values=request.form.to_dict(), errors=errors, status=422)
    try:
        job, _created = submit_job(
            db_session(), services.celery, owner=current_owner(), submission=submission, limits=current_job_limits()
        )
    except QuotaExceeded as exceeded:
        return _render_form(values=request.form.to_dict(), errors={"quota": exceeded.message}, status=429)
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
