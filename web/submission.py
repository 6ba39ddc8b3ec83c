"""Turning a submitted request into a queued job: validate it with the kind's
spec, create the row, commit, and only then send the wake-up message. Shared by
the JSON API and the HTML form so both accept exactly the same jobs."""

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from db.idempotency import IdempotentRequest, create_job_once, find_earlier_job
from db.input_images import add_upload, inline_images, referenced_uploads
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
from db.storage import Storage
from db.uploads import PreparedImage, UploadLimits
from db.webhooks import WebhookUrlRefused, check_webhook_url
from web.context import Platform

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
    # Input images sent inline as data URIs, checked: stored as uploads at submit.
    inline_images: Mapping[str, PreparedImage] = field(default_factory=dict)
    retry_of: uuid.UUID | None = None  # the failed or canceled job this one runs again


def validate_submission(body: Any, settings: Settings, *, coerce_types: bool = False) -> Submission:
    """coerce_types: the body comes from a web form, whose values are text, or a compat
    API, which takes what its original takes ("n": "2"): pydantic may read a number
    from text there. The JSON API's body has the types its schema states (db/specs.JsonBody)."""
    if not isinstance(body, dict):
        raise SubmissionRejected("validation_error", [FieldError("body", "must be a JSON object")])
    context = {"settings": settings, "coerce_types": coerce_types}
    try:
        request = SubmitRequest.model_validate(body, context=context)
    except ValidationError as error:
        raise SubmissionRejected("validation_error", field_errors(error)) from None

    kind = find_kind(request.kind)
    if kind is None:
        message = f"must be one of {', '.join(job_kinds())}"
        raise SubmissionRejected("validation_error", [FieldError("kind", message)])
    if kind.model_param is None:
        model = _registry_model(kind, request.model, settings)
    elif request.model is not None:
        message = f"{kind.name} jobs name what they run on in params.{kind.model_param}"
        raise SubmissionRejected("validation_error", [FieldError("model", message)])

    try:
        spec = kind.spec.model_validate(request.params, context=context)
    except ValidationError as error:
        raise SubmissionRejected("validation_error", field_errors(error, prefix="params")) from None
    if request.webhook_url is not None:
        try:
            check_webhook_url(request.webhook_url, settings)
        except WebhookUrlRefused as refused:
            raise SubmissionRejected("validation_error", [FieldError("webhook_url", str(refused))]) from None
    params = spec.model_dump(mode="json")
    if kind.model_param is not None:
        model = params[kind.model_param]  # checked by the spec
    return Submission(
        kind,
        model,
        params,
        priority=request.priority,
        webhook_url=request.webhook_url,
        webhook_events=request.chosen_webhook_events,
        max_attempts=settings.max_attempts,
        inline_images=inline_images(params, kind.image_params, UploadLimits.for_input_images(settings)),
    )


def retry_submission(job: Job, settings: Settings) -> Submission:
    """The submission that runs a finished job again: its stored request, checked as a
    new one would be (today's caps, models and kinds), linked to it by retry_of."""
    body = {
        "kind": job.kind,
        "model": job.model,
        "params": job.params,
        "priority": job.priority,
        "webhook_url": job.webhook_url,
        "webhook_events": job.webhook_events,
    }
    return replace(validate_submission(body, settings), retry_of=job.id)


def _registry_model(kind: JobKind, name: str | None, settings: Settings) -> str:
    """The registry model a job names, or its kind's default: 422 when there is none
    of that name or it is of another kind."""
    model = name or default_model(settings, kind.model_kind)
    if model is None:
        raise SubmissionRejected("unknown_model", [FieldError("model", f"no {kind.model_kind} model is installed")])
    entry = find_model(settings, model)
    if entry is None:
        raise SubmissionRejected(
            "unknown_model", [FieldError("model", f"unknown model {model!r}; see GET /api/v1/models")]
        )
    _check_model_kind(kind, entry)
    return model


def _check_model_kind(kind: JobKind, entry: ModelEntry) -> None:
    """A job runs on a model of its kind's model kind (textgen on a text model, ...)."""
    if entry.kind != kind.model_kind:
        message = f"{entry.name!r} is a {entry.kind} model; {kind.name} jobs need a {kind.model_kind} model"
        raise SubmissionRejected("model_kind_mismatch", [FieldError("model", message)])


def check_references(
    session: Session, owner: str, submission: Submission, settings: Settings
) -> dict[str, tuple[int, int]]:
    """What the job's params name (a dataset, an adapter, an upload) is its owner's
    and fits it: ReferenceNotFound or SubmissionRejected otherwise. Returns the
    sizes of the input images it names by upload id."""
    for reference in submission.kind.references:
        reference.check(session, owner=owner, model=submission.model, params=submission.params, settings=settings)
    uploads = referenced_uploads(session, owner, submission.params, submission.kind.image_params)
    return {param: (upload.width, upload.height) for param, upload in uploads.items()}


def _stored_params(
    session: Session, storage: Storage, settings: Settings, owner: str, submission: Submission, sizes: dict
) -> dict[str, Any]:
    """The params as the job row keeps them: the params that default to the input
    images' sizes filled in (or the sizes refused: before anything is stored), then
    inline images stored as uploads, named by id."""
    params = dict(submission.params)
    sizes |= {param: (image.width, image.height) for param, image in submission.inline_images.items()}
    if submission.kind.sized_by_inputs is not None and sizes:
        params = submission.kind.sized_by_inputs(params, sizes, settings)
    for param, image in submission.inline_images.items():
        params[param] = str(add_upload(session, storage, owner=owner, image=image).id)
    return params


def submit_job(
    session: Session,
    services: Platform,
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
    the same Idempotency-Key did (IdempotencyKeyReused if that one had another body).
    Takes the owner's turn in this process first (web/owner_turns.py): an API
    request's session holds no connection until then (web/auth.py)."""
    with services.owner_turns.turn(owner):
        return _submit_in_turn(
            session, services, owner=owner, submission=submission, limits=limits, idempotent=idempotent
        )


def _submit_in_turn(
    session: Session,
    services: Platform,
    *,
    owner: str,
    submission: Submission,
    limits: JobLimits,
    idempotent: IdempotentRequest | None,
) -> tuple[Job, bool]:
    if idempotent is not None:
        # A replay is answered before the limits: it asks for no new work.
        earlier = find_earlier_job(session, owner, idempotent)
        if earlier is not None:
            return earlier, False
    sizes = check_references(session, owner, submission, services.settings)
    enforce_job_limits(session, owner, limits, images=submission.kind.images(submission.params))
    fields: dict[str, Any] = {
        "kind": submission.kind.name,
        "model": submission.model,
        "params": _stored_params(session, services.storage, services.settings, owner, submission, sizes),
        "priority": submission.priority,
        "webhook_url": submission.webhook_url,
        "webhook_events": submission.webhook_events,
        "max_attempts": submission.max_attempts,
        "retry_of": submission.retry_of,
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
        send_recorded_wake_up(session, services.celery, job.id, job.kind)
    except Exception:
        # The job is committed and stays queued with its wake-up owed: a worker's
        # reconciler sends it once the broker answers (db/outbox.py).
        logger.exception("job %s is queued but its message was not sent", job.id)
    return job, True
