"""What every job form shares: params from form fields, input images from a file
or from a result, submitting, and a refusal (db/refusals.py) shown as messages
next to the inputs, with its status: the one way the pages render a refused job."""

import re
import uuid
from typing import Any

from flask import request, url_for
from werkzeug.datastructures import MultiDict

from db.input_images import UUID_TEXT, png_data_uri
from db.jobs import get_job
from db.models import Artifact, Job
from db.quotas import enforce_job_limits
from db.refusals import ReferenceNotFound, Refusal
from db.storage import ObjectNotFound
from web.context import current_job_limits, current_owner, db_session, platform
from web.submission import Submission, submit_job

RECENT_JOBS = 10
# Params whose form inputs have other names, for showing an error next to its input.
# The form's one adapter is the `adapter` shorthand, checked (owner, model) as `adapters.0`.
INPUT_OF_PARAM = {
    "adapter.id": "adapter",
    "adapter.scale": "adapter_scale",
    "adapters.0.id": "adapter",
    "stop.0": "stop",
}
# Where a refusal of the job as a whole (the key's limits: no field at fault) is shown.
WHOLE_FORM = "quota"


def params_from_form(form: MultiDict, names: tuple[str, ...], prompt: str) -> dict[str, Any]:
    # A blank optional field means "the default", as leaving it out does in the API;
    # a blank prompt is kept so that it is reported as missing.
    params = {}
    for name in names:
        value = form.get(name, "")
        if value.strip() or name == prompt:
            params[name] = value
    return params


# An image input's hidden `<name>_source`: a result of the owner's ("Use as input",
# "Upscale" on a job's page) or an upload id (a job's own input, "Same settings again").
ARTIFACT_SOURCE = re.compile(r"artifact:(?P<job_id>[0-9a-fA-F-]{36})/(?P<index>\d+)", re.ASCII)


def artifact_source(artifact: Artifact) -> str:
    return f"artifact:{artifact.job_id}/{artifact.index}"


def _owned_image_artifact(source: str) -> Artifact | None:
    match = ARTIFACT_SOURCE.fullmatch(source)
    if match is None:
        return None
    try:
        job_id = uuid.UUID(match["job_id"])
    except ValueError:
        return None
    job = get_job(db_session(), job_id, owner=current_owner())
    index = int(match["index"])
    found = [artifact for artifact in job.artifacts if artifact.index == index] if job is not None else []
    return found[0] if found and found[0].kind == "image" else None


def image_param(name: str) -> str | None:
    """A job param's input image from the form, as the API takes one: a chosen file
    as a data URI (checked at submit exactly as the API's: format judged from the
    bytes, not this label), else the input's source: a result of the owner's (its
    bytes, checked the same way) or an upload id (the owner's, checked at submit)."""
    file = request.files.get(name)
    if file is not None and file.filename:
        return png_data_uri(file.read())
    source = request.form.get(f"{name}_source", "").strip()
    if not source:
        return None
    if UUID_TEXT.fullmatch(source):
        return source
    artifact = _owned_image_artifact(source)
    if artifact is None:
        raise ReferenceNotFound("artifact_not_found", f"params.{name}", "no such image of yours")
    try:
        return png_data_uri(platform().storage.get(artifact.storage_key))
    except ObjectNotFound:
        raise ReferenceNotFound("artifact_not_found", f"params.{name}", "that image is missing from storage") from None


def source_preview_url(source: str) -> str | None:
    """Where the page shows an image input's source (None: nothing to show)."""
    if UUID_TEXT.fullmatch(source):
        return url_for("pages.upload_image_file", upload_id=uuid.UUID(source))
    match = ARTIFACT_SOURCE.fullmatch(source)
    if match is None:
        return None
    return url_for("api.download_artifact", job_id=match["job_id"], index=int(match["index"]))


def form_errors(refusal: Refusal) -> dict[str, str]:
    """The refusal's messages keyed by the name of the input they are about."""
    if not refusal.errors:
        return {WHOLE_FORM: refusal.message}
    by_input = {}
    for error in refusal.errors:
        param = error.field.removeprefix("params.")
        by_input[INPUT_OF_PARAM.get(param, param)] = error.message
    return by_input


def check_limits(submission: Submission) -> None:
    """QuotaExceeded when the key's limits would refuse this job: for a form that
    stores files before it submits, so that a refused job leaves none behind."""
    session = db_session()
    try:
        enforce_job_limits(
            session,
            current_owner(),
            current_job_limits(),
            images=submission.kind.images(submission.params),
        )
    finally:
        session.rollback()  # releases the owner's row; submit() checks again as it creates the job


def submit(submission: Submission) -> Job:
    """Create and announce the job, or raise its Refusal with nothing written."""
    session = db_session()
    try:
        job, _created = submit_job(
            session, platform(), owner=current_owner(), submission=submission, limits=current_job_limits()
        )
    except Refusal:
        session.rollback()  # also the rows of a dataset uploaded with the form, flushed in this session
        raise
    return job
