"""Turning a submitted request into a queued job: validate it with the kind's
spec, create the row, commit, and only then send the wake-up message. Shared by
the JSON API and the HTML form so both accept exactly the same jobs."""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from celery import Celery
from pydantic import ValidationError
from sqlalchemy.orm import Session

from db.adapters import get_adapter
from db.datasets import get_dataset
from db.idempotency import IdempotentRequest, create_job_once, find_earlier_job
from db.jobs import create_job
from db.models import Job, utcnow
from db.outbox import send_recorded_wake_up
from db.quotas import JobLimits, enforce_job_limits, requested_images
from db.refusals import FieldError, ReferenceNotFound, SubmissionRejected, field_errors
from db.registry import JOB_MODEL_KINDS, ModelEntry, default_model, find_model
from db.settings import Settings
from db.specs import JOB_KINDS, JobKind, SubmitRequest
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

    model_kind = JOB_MODEL_KINDS[request.kind]
    model = request.model or default_model(settings, model_kind)
    if model is None:
        raise SubmissionRejected("unknown_model", [FieldError("model", f"no {model_kind} model is installed")])
    entry = find_model(settings, model)
    if entry is None:
        raise SubmissionRejected(
            "unknown_model", [FieldError("model", f"unknown model {model!r}; see GET /api/v1/models")]
        )
    _check_model_kind(request.kind, entry)

    kind = JOB_KINDS[request.kind]
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


def _check_model_kind(job_kind: str, entry: ModelEntry) -> None:
    """A textgen job needs a text model, the image kinds an image model."""
    wanted = JOB_MODEL_KINDS[job_kind]
    if entry.kind != wanted:
        raise SubmissionRejected(
            "model_kind_mismatch",
            [FieldError("model", f"{entry.name!r} is a {entry.kind} model; {job_kind} jobs need a {wanted} model")],
        )


def check_dataset_reference(session: Session, owner: str, submission: Submission) -> None:
    """A finetune job trains on one of its owner's datasets."""
    if submission.kind.name != "finetune":
        return
    if get_dataset(session, uuid.UUID(submission.params["dataset_id"]), owner=owner) is None:
        raise ReferenceNotFound("dataset_not_found", "params.dataset_id", "no such dataset; see GET /api/v1/datasets")


def check_adapter_reference(session: Session, owner: str, submission: Submission) -> None:
    """A generate job's adapter is one of its owner's, trained on the job's model
    (a LoRA's shapes fit only the model it was trained on)."""
    reference = submission.params.get("adapter") if submission.kind.name == "generate" else None
    if reference is None:
        return
    adapter = get_adapter(session, uuid.UUID(reference["id"]), owner=owner)
    if adapter is None:
        raise ReferenceNotFound(
            "adapter_not_found", "params.adapter.id", "no such adapter; see GET /api/v1/adapters"
        )
    if adapter.base_model != submission.model:
        message = f"the adapter was trained for model {adapter.base_model!r}, not {submission.model!r}"
        raise SubmissionRejected("adapter_model_mismatch", [FieldError("params.adapter.id", message)])


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
    check_dataset_reference(session, owner, submission)
    check_adapter_reference(session, owner, submission)
    enforce_job_limits(session, owner, limits, images=requested_images(submission.kind.name, submission.params))
    fields = {
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
