"""What every job form shares: params from form fields, submitting, and a refusal
(db/refusals.py) shown as messages next to the inputs, with its status: the one
way the pages render a refused job."""

from typing import Any

from werkzeug.datastructures import MultiDict

from db.models import Job
from db.quotas import enforce_job_limits
from db.refusals import Refusal
from web.context import current_job_limits, current_owner, db_session, platform
from web.submission import Submission, submit_job

RECENT_JOBS = 10
# Params whose form inputs have other names, for showing an error next to its input.
INPUT_OF_PARAM = {"adapter.id": "adapter", "adapter.scale": "adapter_scale", "stop.0": "stop"}
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
