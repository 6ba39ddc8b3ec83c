"""Turning a submitted request into a queued job: validate it with the kind's
spec, create the row, commit, and only then send the wake-up message. Shared by
the JSON API and the HTML form so both accept exactly the same jobs."""

import logging
from dataclasses import dataclass
from typing import Any

from celery import Celery
from pydantic import ValidationError
from sqlalchemy.orm import Session

from db.jobs import create_job
from db.models import Job
from db.queue import send_job
from db.registry import default_model, find_model
from db.settings import Settings
from db.specs import JOB_KINDS, JobKind, SubmitRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path in the request body, e.g. "params.width"
    message: str


class SubmissionRejected(Exception):
    def __init__(self, code: str, errors: list[FieldError]) -> None:
        self.code = code
        self.errors = errors
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))


@dataclass(frozen=True)
class Submission:
    kind: JobKind
    model: str
    params: dict[str, Any]  # the validated spec as stored: defaults and the drawn seed filled in


def validate_submission(body: Any, settings: Settings) -> Submission:
    if not isinstance(body, dict):
        raise SubmissionRejected("validation_error", [FieldError("body", "must be a JSON object")])
    try:
        request = SubmitRequest.model_validate(body)
    except ValidationError as error:
        raise SubmissionRejected("validation_error", _field_errors(error)) from None

    model = request.model or default_model(settings)
    if model is None:
        raise SubmissionRejected("unknown_model", [FieldError("model", "no model is installed")])
    if find_model(settings, model) is None:
        raise SubmissionRejected(
            "unknown_model", [FieldError("model", f"unknown model {model!r}; see GET /api/v1/models")]
        )

    kind = JOB_KINDS[request.kind]
    try:
        spec = kind.spec.model_validate(request.params, context={"settings": settings})
    except ValidationError as error:
        raise SubmissionRejected("validation_error", _field_errors(error, prefix="params")) from None
    return Submission(kind, model, spec.model_dump(mode="json"))


def _field_errors(error: ValidationError, prefix: str | None = None) -> list[FieldError]:
    errors = []
    for detail in error.errors():
        location = [prefix] if prefix else []
        location += [str(part) for part in detail["loc"]]
        # pydantic prefixes a validator's ValueError text with "Value error, ".
        message = detail["msg"].removeprefix("Value error, ")
        errors.append(FieldError(".".join(location) or "body", message))
    return errors


def submit_job(session: Session, celery: Celery, *, owner: str, submission: Submission) -> Job:
    job = create_job(
        session, owner=owner, kind=submission.kind.name, model=submission.model, params=submission.params
    )
    # Commit before sending: a worker woken by the message must find the row.
    session.commit()
    try:
        send_job(celery, job.id, submission.kind.queue)
    except Exception:
        # The job is committed and stays queued; the reconciler (a later issue)
        # re-sends messages for queued jobs that no worker was told about.
        logger.exception("job %s is queued but its message was not sent", job.id)
    return job
