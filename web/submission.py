"""Turning a submitted request into a queued job: validate it with the kind's
spec, create the row, commit, and only then send the wake-up message. Shared by
the JSON API and the HTML form so both accept exactly the same jobs."""

import logging
from dataclasses import dataclass
from typing import Any

from celery import Celery
from pydantic import ValidationError
from sqlalchemy.orm import Session

from db.idempotency import IdempotentRequest, create_job_once, find_earlier_job
from db.jobs import create_job
from db.kinds import find_kind, job_kinds
from db.kinds.definition import JobKind
from db.models import Job, utcnow
from db.outbox import send_recorded_wake_up
from db.quotas import JobLimits, enforce_job_limits
from db.refusals import FieldError, SubmissionRejected, field_errors
from db.registry import ModelEntry, default_model, find_model
from db.settings import Settings
from db.specs import SubmitRequest
from db.webhooks import WebhookUrlRefused, check_webhook_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    kind: JobKind
    model: str
    params: dict[str, Any]  # the validated spec as stored: defaults and the drawn seed filled in
    priority: int = 0
    webhook_url: str | None = None
    webhook_events: list[str] | None = None
    max_attempts: int | None = None  # None: the column's default


def validate_submission(body: Any, settings: Settings) -> Submission:
    if not isinstance(body, dict):
        raise SubmissionRejected("validation_error", [FieldError("body", "must be a JSON object")])
    try:
        request = SubmitRequest.model_validate(body)
    except ValidationError as error:
        raise SubmissionRejected("validation_error", field_errors(error)) from None

    kind = find_kind(request.kind)
    if kind is None:
        message = f"must be one of {', '.join(job_kinds())}"
        raise SubmissionRejected("validation_error", [FieldError("kind", message)])
    model = request.model or default_model(settings, kind.model_kind)
    if model is None:
        raise SubmissionRejected("unknown_model", [FieldError("model", f"no {kind.model_kind} model is installed")])
    entry = find_model(settings, model)
    if entry is None:
        raise SubmissionRejected(
            "unknown_model", [FieldError("model", f"unknown model {model!r}; see GET /api/v1/models")]
        )
    _check_model_kind(kind, entry)

    try:
        spec = kind.spec.model_validate(request.params, context={"settings": settings})
    except ValidationError as error:
        raise SubmissionRejected("validation_error", field_errors(error, prefix="params")) from None
    if request.webhook_url is not None:
        try:
            check_webhook_url(request.webhook_url, settings)
        except WebhookUrlRefused as refused:
            raise SubmissionRejected("validation_error", [FieldError("webhook_url", str(refused))]) from None
    return Submission(
        kind,
        model,
        spec.model_dump(mode="json"),
        priority=request.priority,
        webhook_url=request.webhook_url,
        webhook_events=request.chosen_webhook_events,
        max_attempts=settings.max_attempts,
    )


def _check_model_kind(kind: JobKind, entry: ModelEntry) -> None:
    """A job runs on a model of its kind's model kind (textgen on a text model, ...)."""
    if entry.kind != kind.model_kind:
        message = f"{entry.name!r} is a {entry.kind} model; {kind.name} jobs need a {kind.model_kind} model"
        raise SubmissionRejected("model_kind_mismatch", [FieldError("model", message)])


def check_references(session: Session, owner: str, submission: Submission) -> None:
    """What the job's params name (a dataset, an adapter) is its owner's and fits it:
    ReferenceNotFound or SubmissionRejected otherwise."""
    for reference in submission.kind.references:
        reference.check(session, owner=owner, model=submission.model, params=submission.params)


def submit_job(
    session: Session,
    celery: Celery,
    *,
    owner: str,
    submission: Submission,
    limits: JobLimits,
    idempotent: IdempotentRequest | None = None,
) -> tuple[Job, bool]:
    """Create, commit and announce the job; raises QuotaExceeded (nothing written)
    when the owner is at a limit of the key in use, ReferenceNotFound (nothing
    written) when it names a dataset or adapter the owner does not have,
    SubmissionRejected when its adapter was trained for another model. Returns
    the job and whether this call created it: False when an earlier request with
    the same Idempotency-Key did (IdempotencyKeyReused if that one had another body)."""
    if idempotent is not None:
        # A replay is answered before the limits: it asks for no new work.
        earlier = find_earlier_job(session, owner, idempotent)
        if earlier is not None:
            return earlier, False
    check_references(session, owner, submission)
    enforce_job_limits(session, owner, limits, images=submission.kind.images(submission.params))
    fields: dict[str, Any] = {
        "kind": submission.kind.name,
        "model": submission.model,
        "params": submission.params,
        "priority": submission.priority,
        "webhook_url": submission.webhook_url,
        "webhook_events": submission.webhook_events,
        "max_attempts": submission.max_attempts,
        # Its wake-up leaves right after the commit, recorded in the job's INSERT.
        "enqueued_at": utcnow(),
    }
    if idempotent is None:
        job = create_job(session, owner=owner, **fields)
    else:
        job, created = create_job_once(session, owner=owner, request=idempotent, **fields)
        if not created:
            session.rollback()  # releases the owner's row the limits check locked
            return job, False
    # Commit before sending: a worker woken by the message must find the row.
    session.commit()
    try:
        send_recorded_wake_up(session, celery, job.id, job.kind)
    except Exception:
        # The job is committed and stays queued with its wake-up owed: a worker's
        # reconciler sends it once the broker answers (db/outbox.py).
        logger.exception("job %s is queued but its message was not sent", job.id)
    return job, True
