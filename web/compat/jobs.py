"""How every compatible call becomes an ordinary genq job: the request is mapped to
a kind, model and params, then takes the JSON API's path (web/submission.py:
validation, the key's limits, the owner, the job row, the wake-up), then waits
for the job (waiting.py) and reads its artifacts back from storage. A call that
waits holds one of the process's wait slots (web/slots.py), taken before its job
is made, so a call refused for want of one leaves nothing behind."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app

from db.failures import FailureCode
from db.models import Artifact, Job, JobStatus
from web.compat.errors import CompatError
from web.compat.waiting import JobWaiter
from web.context import current_job_limits, current_owner, db_session, platform
from web.slots import Slots
from web.submission import submit_job, validate_submission

WAIT_SLOTS = "genq.compat_wait_slots"
RETRY_AFTER_SECONDS = 2


def take_wait_slot() -> Slots:
    """The process's wait slots, one of them now taken (the caller gives it back);
    CompatError 503 when none is free."""
    slots: Slots = current_app.extensions[WAIT_SLOTS]
    if not slots.take():
        raise CompatError(
            503,
            "too_many_waits",
            "this server waits for as many jobs as it can; retry shortly",
            retry_after=RETRY_AFTER_SECONDS,
        )
    return slots


@contextmanager
def wait_slot() -> Iterator[None]:
    slots = take_wait_slot()
    try:
        yield
    finally:
        slots.give_back()


def submit_compat_job(kind: str, model: str | None, params: dict[str, Any]) -> tuple[uuid.UUID, dict[str, Any]]:
    """Queue the job as POST /api/v1/jobs would; its id and its params as validated
    (defaults filled in, types coerced). A refusal (db/refusals.py) is answered by
    web/errors.py in the API's shape. Closes the request's database session after,
    so that waiting holds no connection."""
    services = platform()
    body: dict[str, Any] = {"kind": kind, "params": params}
    if model is not None:
        body["model"] = model
    submission = validate_submission(body, services.settings, coerce_types=True)
    session = db_session()
    session.commit()  # ends the view's reads (models, adapters): no connection held while the owner's turn is awaited
    job, _created = submit_job(
        session, services, owner=current_owner(), submission=submission, limits=current_job_limits()
    )
    session.close()
    return job.id, submission.params


def run_compat_job(kind: str, model: str | None, params: dict[str, Any]) -> Job:
    """Submit the job and wait until it has succeeded; CompatError if it failed,
    was canceled or did not finish in time (it then keeps running)."""
    with wait_slot():
        job_id, _params = submit_compat_job(kind, model, params)
        with JobWaiter(platform(), job_id, current_owner()) as waiter:
            return succeeded(waiter.finished_job())


def succeeded(job: Job) -> Job:
    if job.status == JobStatus.SUCCEEDED:
        return job
    if job.status == JobStatus.CANCELED:
        raise CompatError(409, "job_canceled", f"genq job {job.id} was canceled")
    # Caused by what the caller sent, not by the platform: a 4xx.
    code = FailureCode.of(job.error_code)
    status = 422 if code is not None and code.callers_fault else 500
    raise CompatError(status, job.error_code or "job_failed", f"genq job {job.id} failed: {job.error_message}")


def artifact_bytes(artifact: Artifact) -> bytes:
    return platform().storage.get(artifact.storage_key)
