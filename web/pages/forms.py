"""What every job form shares: params from form fields, refusals as messages next
to their inputs (with the status the API would answer), and submitting."""

from typing import Any

from werkzeug.datastructures import MultiDict

from db.models import Job
from db.quotas import QuotaExceeded, enforce_job_limits
from web.context import current_job_limits, current_owner, db_session, platform
from web.submission import (
    FieldError,
    ReferenceNotFound,
    Submission,
    SubmissionRejected,
    submit_job,
    validate_submission,
)

RECENT_JOBS = 10
# Params whose form inputs have other names, for showing an error next to its input.
INPUT_OF_PARAM = {"adapter.id": "adapter", "adapter.scale": "adapter_scale", "stop.0": "stop"}


def params_from_form(form: MultiDict, names: tuple[str, ...], prompt: str) -> dict[str, Any]:
    # A blank optional field means "the default", as leaving it out does in the API;
    # a blank prompt is kept so that it is reported as missing.
    params = {}
    for name in names:
        value = form.get(name, "")
        if value.strip() or name == prompt:
            params[name] = value
    return params


def form_errors(errors: list[FieldError]) -> dict[str, str]:
    """Messages keyed by the name of the input they are about."""
    by_input = {}
    for error in errors:
        param = error.field.removeprefix("params.")
        by_input[INPUT_OF_PARAM.get(param, param)] = error.message
    return by_input


class SubmitRefused(Exception):
    """A refusal as a form shows it: messages by input, and the status."""

    def __init__(self, errors: dict[str, str], status: int) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors
        self.status = status


def validated(body: dict[str, Any]) -> Submission:
    """The submission, or SubmitRefused (422) with the messages by input."""
    try:
        return validate_submission(body, platform().settings)
    except SubmissionRejected as rejected:
        raise SubmitRefused(form_errors(rejected.errors), 422) from None


def check_limits(submission: Submission) -> None:
    """SubmitRefused (429) when the key's limits would refuse this job: for a form that
    stores files before it submits, so that a refused job leaves none behind."""
    session = db_session()
    try:
        enforce_job_limits(
            session, current_owner(), current_job_limits(),
            images=submission.kind.images(submission.params),
        )
    except QuotaExceeded as error:
        raise SubmitRefused({"quota": error.message}, 429) from None
    finally:
        session.rollback()  # releases the owner's row; submit() checks again as it creates the job


def submit(submission: Submission) -> Job:
    """Create and announce the job, or raise SubmitRefused with nothing written."""
    session = db_session()
    try:
        job, _created = submit_job(
            session, platform().celery, owner=current_owner(), submission=submission, limits=current_job_limits()
        )
    except QuotaExceeded as error:
        session.rollback()
        raise SubmitRefused({"quota": error.message}, 429) from None
    except ReferenceNotFound as error:
        session.rollback()  # also the rows of a dataset uploaded with the form, flushed in this session
        raise SubmitRefused(form_errors([FieldError(error.field, str(error))]), 404) from None
    except SubmissionRejected as error:
        session.rollback()
        raise SubmitRefused(form_errors(error.errors), 422) from None
    return job
