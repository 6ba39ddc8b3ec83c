"""Jobs over JSON: submit, read one, list, download an artifact, delete a finished one.

Views validate, call db/ functions with the request's owner, and serialize;
they never touch Celery except through web.submission, and never run a job.
"""

import uuid
from pathlib import PurePosixPath
from typing import Any

from flask import Response, request, url_for
from pydantic import ValidationError
from werkzeug.exceptions import BadRequest

from db.deletion import delete_finished_job
from db.idempotency import MAX_KEY_LENGTH, IdempotentRequest, request_hash
from db.jobs import get_job, list_jobs, reprioritize_queued_job
from db.kinds import job_kinds
from db.models import Job, JobStatus
from db.refusals import SubmissionRejected, field_errors
from db.specs import JobChange
from db.storage import ObjectNotFound
from web.api import api
from web.api.errors import ApiError
from web.api.listing import choice_argument, owned_page
from web.api.serializers import serialize_job, serialize_jobs
from web.cancel import cancel_owned_job
from web.context import current_job_limits, current_owner, db_session, platform
from web.submission import retry_submission, submit_job, validate_submission


def _json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as Content-Type: application/json")
    try:
        return request.get_json()
    except BadRequest:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None


def owned_job(job_id: uuid.UUID) -> Job:
    # Someone else's job answers exactly like a missing one, so ids cannot be probed.
    job = get_job(db_session(), job_id, owner=current_owner())
    if job is None:
        raise ApiError(404, "not_found", "no such job")
    return job


def _idempotent_request(body: Any) -> IdempotentRequest | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not (1 <= len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
        message = f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        raise ApiError(
            422,
            "validation_error",
            f"Idempotency-Key: {message}",
            [{"field": "headers.Idempotency-Key", "message": message}],
        )
    return IdempotentRequest(key, request_hash(body))


@api.post("/jobs")
def submit() -> tuple[dict[str, Any], int, dict[str, str]]:
    """202 with a new job; 200 with the earlier job when an Idempotency-Key repeats
    with the same body. A refused one (db/refusals.py) is answered by web/errors.py."""
    services = platform()
    body = _json_body()
    idempotent = _idempotent_request(body)
    submission = validate_submission(body, services.settings)
    session = db_session()
    job, created = submit_job(
        session,
        services,
        owner=current_owner(),
        submission=submission,
        limits=current_job_limits(),
        idempotent=idempotent,
    )
    location = url_for("api.get_one", job_id=job.id)
    return serialize_job(session, services.storage, job), 202 if created else 200, {"Location": location}


@api.get("/jobs/<uuid:job_id>")
def get_one(job_id: uuid.UUID) -> dict[str, Any]:
    return serialize_job(db_session(), platform().storage, owned_job(job_id))


@api.post("/jobs/<uuid:job_id>/cancel")
def cancel(job_id: uuid.UUID) -> tuple[dict[str, Any], int]:
    """200 with the job canceled at once (it was queued), 202 while a running job
    stops at its next step."""
    services = platform()
    session = db_session()
    outcome = cancel_owned_job(session, services, job_id, owner=current_owner())
    if outcome == "not_found":
        raise ApiError(404, "not_found", "no such job")
    if outcome == "finished":
        raise ApiError(409, "job_finished", "the job has already finished; there is nothing to cancel")
    status = 200 if outcome == "canceled" else 202
    return serialize_job(session, services.storage, owned_job(job_id)), status


@api.post("/jobs/<uuid:job_id>/retry")
def retry(job_id: uuid.UUID) -> tuple[dict[str, Any], int, dict[str, str]]:
    """202 with a new job that runs this failed or canceled one again (same request,
    retry_of naming it); 200 with the earlier retry when an Idempotency-Key repeats."""
    services = platform()
    job = owned_job(job_id)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELED):
        raise ApiError(409, "job_not_retryable", f"the job is {job.status}; only a failed or canceled job is retried")
    idempotent = _idempotent_request({"retry_of": str(job.id)})
    session = db_session()
    retried, created = submit_job(
        session,
        services,
        owner=current_owner(),
        submission=retry_submission(job, services.settings),
        limits=current_job_limits(),
        idempotent=idempotent,
    )
    location = url_for("api.get_one", job_id=retried.id)
    return serialize_job(session, services.storage, retried), 202 if created else 200, {"Location": location}


@api.patch("/jobs/<uuid:job_id>")
def change(job_id: uuid.UUID) -> dict[str, Any]:
    """A queued job's priority: to the front (higher) or back (lower) of its owner's turn."""
    job = owned_job(job_id)  # another owner's job is a 404 whatever the body says
    try:
        change = JobChange.model_validate(_json_body())
    except ValidationError as error:
        raise SubmissionRejected("validation_error", field_errors(error)) from None
    session = db_session()
    if not reprioritize_queued_job(session, job.id, owner=job.owner, priority=change.priority):
        raise ApiError(409, "job_not_queued", "only a queued job's priority can change")
    session.commit()
    session.refresh(job)
    return serialize_job(session, platform().storage, job)


@api.delete("/jobs/<uuid:job_id>")
def delete_one(job_id: uuid.UUID) -> tuple[str, int]:
    """204 once the finished job, its objects and its events are gone."""
    session = db_session()
    outcome = delete_finished_job(session, platform().storage, job_id, owner=current_owner())
    if outcome == "not_found":
        raise ApiError(404, "not_found", "no such job")
    if outcome == "not_finished":
        raise ApiError(409, "job_not_finished", "the job is queued or running; cancel it first")
    if outcome == "has_adapter":
        raise ApiError(409, "job_has_adapter", "the job trained an adapter; delete the adapter first")
    session.commit()
    return "", 204


@api.get("/jobs")
def list_all() -> dict[str, Any]:
    page = owned_page(
        list_jobs, status=choice_argument("status", tuple(JobStatus)), kind=choice_argument("kind", tuple(job_kinds()))
    )
    session, storage = db_session(), platform().storage
    return {"jobs": serialize_jobs(session, storage, page.rows), "next_cursor": page.next_cursor}


@api.get("/jobs/<uuid:job_id>/artifacts/<int:index>")
def download_artifact(job_id: uuid.UUID, index: int) -> Response:
    job = owned_job(job_id)
    artifact = next((artifact for artifact in job.artifacts if artifact.index == index), None)
    if artifact is None:
        raise ApiError(404, "not_found", "no such artifact")
    if artifact.expired_at is not None:
        raise ApiError(410, "artifact_expired", "the artifact's object was deleted (retention, or its adapter deleted)")
    try:
        data = platform().storage.get(artifact.storage_key)
    except ObjectNotFound:
        raise ApiError(404, "not_found", "the artifact's object is missing from storage") from None
    response = Response(data, content_type=artifact.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    filename = f"{job.id}-{PurePosixPath(artifact.storage_key).name}"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    # An artifact never changes once stored, and only its owner may fetch it.
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    response.set_etag(artifact.sha256)
    response.make_conditional(request)
    return response
