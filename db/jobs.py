"""The job state machine: queued -> running -> succeeded | failed | canceled.

Every transition is one conditional UPDATE, so a duplicate message, a late
worker or a retried request cannot move a job twice. Worker writes are fenced
by the job's attempt. Functions take a session; the caller commits.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, selectinload

from db.events import ARTIFACTS, DONE, LOSS, PROGRESS, STATUS, TEXT, append_event
from db.models import Artifact, Job, utcnow
from db.paging import newest_first
from db.settings import DEFAULT_LEASE_SECONDS

# The owner `genq up` makes a key for and signs the local browser in as.
LOCAL_OWNER = "local"


@dataclass(frozen=True)
class NewArtifact:
    """What an executor produced and storage now holds, ready to be recorded."""

    index: int
    kind: str
    storage_key: str
    content_type: str
    bytes: int
    sha256: str
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    text: str | None = None  # a text artifact's content


def create_job(
    session: Session,
    *,
    owner: str,
    kind: str,
    model: str,
    params: dict[str, Any],
    priority: int = 0,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    webhook_url: str | None = None,
    webhook_events: list[str] | None = None,
    max_attempts: int | None = None,
) -> Job:
    """max_attempts: claims before a job whose worker keeps dying or whose attempts
    keep failing is failed for good; None: the column's default."""
    job = Job(
        owner=owner,
        kind=kind,
        model=model,
        params=params,
        status="queued",
        priority=priority,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        webhook_url=webhook_url,
        webhook_events=webhook_events,
    )
    if max_attempts is not None:
        job.max_attempts = max_attempts
    session.add(job)
    session.flush()
    append_event(session, job.id, STATUS, {"status": "queued"})
    return job


def get_job(session: Session, job_id: uuid.UUID, *, owner: str | None) -> Job | None:
    """The job, or None when it does not exist or belongs to someone else.

    owner=None is for the worker, which acts on any job it was sent. Always read
    afresh: transitions are UPDATEs that do not refresh objects already loaded."""
    query = (
        select(Job)
        .where(Job.id == job_id)
        .options(selectinload(Job.artifacts))
        .execution_options(populate_existing=True)
    )
    if owner is not None:
        query = query.where(Job.owner == owner)
    return session.scalars(query).one_or_none()


def list_jobs(
    session: Session,
    *,
    owner: str,
    status: str | None = None,
    kind: str | None = None,
    before: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 20,
) -> list[Job]:
    """Newest first; `before` is the (created_at, id) of the last job of the previous page."""
    query = select(Job).where(Job.owner == owner).options(selectinload(Job.artifacts))
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return list(session.scalars(newest_first(query, Job, before=before, limit=limit)))


def queue_position(session: Session, job: Job) -> int | None:
    """How many queued jobs of the same kind are ahead of this one; 0 once running."""
    if job.status == "running":
        return 0
    if job.status != "queued":
        return None
    ahead = select(func.count()).where(
        Job.status == "queued",
        Job.kind == job.kind,
        (Job.priority > job.priority)
        | ((Job.priority == job.priority) & (Job.created_at < job.created_at)),
    )
    return session.scalar(ahead)


def claim_job(
    session: Session, job_id: uuid.UUID, *, worker_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> Job | None:
    """Move this queued job to running for this worker, with a lease that its
    heartbeat must renew; None if it is not queued any more. Which job a worker
    should take is decided by db.claims.claim_next_jobs, which calls this."""
    job = session.scalars(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(
            status="running",
            attempt=Job.attempt + 1,
            lease_owner=worker_id,
            lease_expires_at=utcnow() + timedelta(seconds=lease_seconds),
            retry_at=None,
            started_at=utcnow(),
            progress_step=0,
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()
    if job is not None:
        append_event(session, job.id, STATUS, {"status": "running", "attempt": job.attempt})
    return job


def _running_attempt(job_id: uuid.UUID, attempt: int):
    return update(Job).where(Job.id == job_id, Job.status == "running", Job.attempt == attempt)


def record_progress(session: Session, job_id: uuid.UUID, attempt: int, *, step: int, total: int) -> bool:
    """Called at the worker's throttled rate, never per step: each call is a row
    update and an event."""
    result = session.execute(_running_attempt(job_id, attempt).values(progress_step=step, progress_total=total))
    if result.rowcount != 1:
        return False
    append_event(session, job_id, PROGRESS, {"step": step, "total": total})
    return True


def record_text(session: Session, job_id: uuid.UUID, attempt: int, texts: dict[int, str]) -> bool:
    """The text generated so far of each output index, as events; with a progress write."""
    running = session.scalar(
        select(func.count()).where(Job.id == job_id, Job.status == "running", Job.attempt == attempt)
    )
    if not running:
        return False
    for index, text in sorted(texts.items()):
        append_event(session, job_id, TEXT, {"index": index, "text": text})
    return True


def record_losses(session: Session, job_id: uuid.UUID, attempt: int, points: list[tuple[int, float]]) -> bool:
    """The training loss of some optimisation steps, as one event; with a progress write.
    A loss that is not finite (training diverged) is stored as null: JSON has no NaN."""
    running = session.scalar(
        select(func.count()).where(Job.id == job_id, Job.status == "running", Job.attempt == attempt)
    )
    if not running:
        return False
    stored = [[step, loss if math.isfinite(loss) else None] for step, loss in points]
    append_event(session, job_id, LOSS, {"attempt": attempt, "points": stored})
    return True


def finish_job(
    session: Session,
    job_id: uuid.UUID,
    attempt: int,
    artifacts: list[NewArtifact],
    *,
    step_seconds: float | None = None,
) -> bool:
    """Record the artifacts and mark the job succeeded, unless this attempt no longer owns it.

    step_seconds: the measured seconds per progress step, which ETAs are made from."""
    result = session.execute(
        _running_attempt(job_id, attempt).values(
            status="succeeded", finished_at=utcnow(), progress_step=Job.progress_total, step_seconds=step_seconds
        )
    )
    if result.rowcount != 1:
        return False
    session.add_all(Artifact(job_id=job_id, **vars(artifact)) for artifact in artifacts)
    # Text stays in the artifact's row: the event stream serializes artifacts from there.
    described = [
        {key: value for key, value in vars(artifact).items() if key not in ("storage_key", "text")}
        for artifact in artifacts
    ]
    append_event(session, job_id, ARTIFACTS, {"artifacts": described})
    _append_final_events(session, job_id, {"status": "succeeded", "attempt": attempt})
    return True


def fail_job(session: Session, job_id: uuid.UUID, attempt: int, *, code: str, message: str) -> bool:
    message = message[:1000]
    result = session.execute(
        _running_attempt(job_id, attempt).values(
            status="failed", finished_at=utcnow(), error_code=code, error_message=message
        )
    )
    if result.rowcount != 1:
        return False
    _append_final_events(
        session, job_id, {"status": "failed", "attempt": attempt, "error": {"code": code, "message": message}}
    )
    return True


def _append_final_events(session: Session, job_id: uuid.UUID, status: dict[str, Any]) -> None:
    append_event(session, job_id, STATUS, status)
    append_event(session, job_id, DONE, {"status": status["status"]})


CancelOutcome = Literal["canceled", "cancel_requested", "finished", "not_found"]


def cancel_job(session: Session, job_id: uuid.UUID, *, owner: str) -> CancelOutcome:
    """Cancel a queued job at once (it never starts: claim wants `queued`), or flag a
    running one for its worker, which ends it `canceled` at its next step.

    One UPDATE for both, so a claim racing with the cancel is either before it (the
    job is flagged) or after it (the claim finds the job canceled)."""
    was_queued = Job.status == "queued"
    new_status = session.scalar(
        update(Job)
        .where(Job.id == job_id, Job.owner == owner, Job.status.in_(("queued", "running")))
        .values(
            cancel_requested=True,
            status=case((was_queued, "canceled"), else_=Job.status),
            finished_at=case((was_queued, utcnow()), else_=Job.finished_at),
        )
        .returning(Job.status)
        .execution_options(synchronize_session=False)
    )
    if new_status == "canceled":
        _append_final_events(session, job_id, {"status": "canceled"})
        return "canceled"
    if new_status == "running":
        return "cancel_requested"
    exists = session.scalar(select(func.count()).where(Job.id == job_id, Job.owner == owner))
    return "finished" if exists else "not_found"


def is_cancel_requested(session: Session, job_id: uuid.UUID) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def end_canceled_job(session: Session, job_id: uuid.UUID, attempt: int, *, step: int) -> bool:
    """The worker stopped this attempt at `step` because of a cancel; nothing it made is kept."""
    result = session.execute(
        _running_attempt(job_id, attempt).values(status="canceled", finished_at=utcnow(), progress_step=step)
    )
    if result.rowcount != 1:
        return False
    _append_final_events(session, job_id, {"status": "canceled", "attempt": attempt, "step": step})
    return True
