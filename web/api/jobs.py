"""Jobs over JSON: submit, read one, list, download an artifact, delete a finished one.

Views validate, call db/ functions with the request's owner, and serialize;
they never touch Celery except through web.submission, and never run a job.
"""

import uuid
from pathlib import PurePosixPath
from typing import Annotated, Any

from flask import Response, request, url_for
from pydantic import BaseModel, Field, StringConstraints, ValidationError
from pydantic.json_schema import SkipJsonSchema
from werkzeug.exceptions import BadRequest

from db import contract
from db.deletion import delete_finished_job
from db.idempotency import MAX_KEY_LENGTH, IdempotentRequest, request_hash
from db.jobs import get_job, list_jobs, reprioritize_queued_job
from db.models import Job, JobStatus
from db.refusals import SubmissionRejected, field_errors
from db.specs import JobChange
from db.storage import ObjectNotFound
from web.api import api
from web.api.errors import ApiError
from web.api.listing import JobsQuery, owned_page, query_of
from web.api.operations import DELETED, Answer, Body, Header, arguments_of, error, links_to, operation
from web.api.serializers import serialize_job, serialize_jobs
from web.cancel import cancel_owned_job
from web.context import current_job_limits, current_owner, db_session, platform
from web.submission import retry_submission, submit_job, validate_submission

# Printable ASCII: what an HTTP header carries unchanged.
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^[\x20-\x7e]+$")]


class IdempotencyHeaders(BaseModel):
    """The headers of a submit or retry: the same key again, the same answer."""

    idempotency_key: IdempotencyKey | SkipJsonSchema[None] = Field(
        default=None,
        alias="Idempotency-Key",
        description="the same key and body: the same job (200); the same key, another body: 422",
    )


JOB_ANSWER = Answer("the job", contract.Job)
NO_JOB = error("no such job, or another owner's (the same answer for both)")
JOB_CREATED = {"Location": Header(str, "the job's URL")}
# What can be done with a job (the events' and loss' views are other modules').
JOB_LINKS = links_to(
    ("get_one", "change", "cancel", "retry", "delete_one", "download_artifact", "job_events", "job_loss"),
    "job_id",
    "$response.body#/id",
)


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
    headers = arguments_of(IdempotencyHeaders, {} if key is None else {"Idempotency-Key": key}, prefix="headers")
    if headers.idempotency_key is None:
        return None
    return IdempotentRequest(headers.idempotency_key, request_hash(body))


@api.post("/jobs")
@operation(
    "Submit a job",
    {
        202: Answer("queued", contract.Job, headers=JOB_CREATED, links=JOB_LINKS),
        200: Answer(
            "the job an earlier request with this Idempotency-Key made",
            contract.Job,
            headers=JOB_CREATED,
            links=JOB_LINKS,
        ),
        400: error("the body is not valid JSON"),
        413: error(
            "the body is larger than GENQ_MAX_IMAGE_REQUEST_BYTES, or an image in params breaks an"
            " upload's cap (file_too_large, image_too_large)"
        ),
        415: error("the body is not application/json, or an image in params is not PNG, JPEG or WebP"),
        422: error(
            "invalid params, unknown model, a model of the wrong kind, an adapter trained for"
            " another model (adapter_model_mismatch), or a reused Idempotency-Key"
        ),
        404: error(
            "params name a dataset (dataset_not_found), adapter (adapter_not_found), upload"
            " (upload_not_found) or job (job_not_found, an evaluation's images) the caller does not have"
        ),
    },
    headers=IdempotencyHeaders,
    body=Body("SubmitRequest"),
)
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
    answer = serialize_job(session, services.storage, job).model_dump(mode="json")
    return answer, 202 if created else 200, {"Location": location}


@api.get("/jobs/<uuid:job_id>")
@operation("Read a job", {200: JOB_ANSWER, 404: NO_JOB})
def get_one(job_id: uuid.UUID) -> dict[str, Any]:
    return serialize_job(db_session(), platform().storage, owned_job(job_id)).model_dump(mode="json")


@api.post("/jobs/<uuid:job_id>/cancel")
@operation(
    "Cancel a job",
    {
        200: Answer("canceled (it was queued)", contract.Job),
        202: Answer("running: stops at its next step", contract.Job),
        404: NO_JOB,
        409: error("the job has already finished"),
    },
)
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
    return serialize_job(session, services.storage, owned_job(job_id)).model_dump(mode="json"), status


@api.post("/jobs/<uuid:job_id>/retry")
@operation(
    "Run a failed or canceled job again, as a new job",
    {
        202: Answer(
            "the new job, queued, with retry_of naming this one", contract.Job, headers=JOB_CREATED, links=JOB_LINKS
        ),
        200: Answer(
            "the retry an earlier request with this Idempotency-Key made",
            contract.Job,
            headers=JOB_CREATED,
            links=JOB_LINKS,
        ),
        404: NO_JOB,
        409: error("the job is not failed or canceled (job_not_retryable)"),
        422: error("its request no longer passes today's checks, or a reused Idempotency-Key"),
    },
    headers=IdempotencyHeaders,
)
def retry(job_id: uuid.UUID) -> tuple[dict[str, Any], int, dict[str, str]]:
    """202 with a new job that runs this failed or canceled one again (same request,
    retry_of naming it); 200 with the earlier retry when an Idempotency-Key repeats."""
    services = platform()
    job = owned_job(job_id)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELED):
        raise ApiError(409, "job_not_retryable", f"the job is {job.status}; only a failed or canceled job is retried")
    idempotent = _idempotent_request({"retry_of": str(job.id)})
    session = db_session()
    session.commit()  # ends the read of the job: its connection goes back while the owner's turn is awaited
    retried, created = submit_job(
        session,
        services,
        owner=current_owner(),
        submission=retry_submission(job, services.settings),
        limits=current_job_limits(),
        idempotent=idempotent,
    )
    location = url_for("api.get_one", job_id=retried.id)
    answer = serialize_job(session, services.storage, retried).model_dump(mode="json")
    return answer, 202 if created else 200, {"Location": location}


@api.patch("/jobs/<uuid:job_id>")
@operation(
    "Move a queued job within its owner's turn (priority)",
    {
        200: Answer("the job with its new priority and place", contract.Job),
        400: error("the body is not valid JSON"),
        404: NO_JOB,
        409: error("the job is not queued (job_not_queued)"),
        415: error("the body is not application/json"),
        422: error("a priority outside -10..10, or another field"),
    },
    body=Body(JobChange),
)
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
    return serialize_job(session, platform().storage, job).model_dump(mode="json")


@api.delete("/jobs/<uuid:job_id>")
@operation(
    "Delete a finished job: its objects, its row and its events",
    {
        204: DELETED,
        404: NO_JOB,
        409: error("job_not_finished (queued or running: cancel it first), or job_has_adapter"),
    },
)
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
@operation(
    "List own jobs, newest first",
    {
        200: Answer("a page of jobs", contract.JobPage),
        400: error("a cursor this API did not hand out"),
        422: error("an invalid filter or limit"),
    },
    query=JobsQuery,
)
def list_all() -> dict[str, Any]:
    query = query_of(JobsQuery)
    page = owned_page(list_jobs, query, status=query.status, kind=query.kind)
    jobs = serialize_jobs(db_session(), platform().storage, page.rows)
    return contract.JobPage(jobs=jobs, next_cursor=page.next_cursor).model_dump(mode="json")


@api.get("/jobs/<uuid:job_id>/artifacts/<int:index>")
@operation(
    "Download an artifact (local storage; S3 artifacts have presigned URLs)",
    {
        200: Answer("the file", media_types=("image/png", "image/jpeg", "image/webp")),
        304: Answer("not modified (If-None-Match)"),
        404: error("no such job or artifact"),
        410: error("artifact_expired: its object was deleted by retention (or with its adapter)"),
    },
)
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
