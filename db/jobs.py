"""The job state machine: queued -> running -> succeeded | failed | canceled.

Every transition is one conditional UPDATE, so a duplicate message, a late
worker or a retried request cannot move a job twice. Worker writes are fenced
by the job's attempt. Functions take a session; the caller commits.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from db.models import Artifact, Job, utcnow

# Until API keys exist (issue 6) every job belongs to one local owner.
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


def create_job(session: Session, *, owner: str, kind: str, model: str, params: dict[str, Any]) -> Job:
    job = Job(owner=owner, kind=kind, model=model, params=params, status="queued")
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: uuid.UUID, *, owner: str | None) -> Job | None:
    """The job, or None when it does not exist or belongs to someone else.

    owner=None is for the worker, which acts on any job it was sent."""
    query = select(Job).where(Job.id == job_id).options(selectinload(Job.artifacts))
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
    query = (
        select(Job)
        .where(Job.owner == owner)
        .options(selectinload(Job.artifacts))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if before is not None:
        created_at, job_id = before
        query = query.where(
            (Job.created_at < created_at) | ((Job.created_at == created_at) & (Job.id < job_id))
        )
    return list(session.scalars(query))


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


def claim_job(session: Session, job_id: uuid.UUID, *, worker_id: str) -> Job | None:
    """Move a queued job to running for this worker; None if it is not queued any more."""
    return session.scalars(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(
            status="running",
            attempt=Job.attempt + 1,
            lease_owner=worker_id,
            started_at=utcnow(),
            progress_step=0,
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()


def _running_attempt(job_id: uuid.UUID, attempt: int):
    return update(Job).where(Job.id == job_id, Job.status == "running", Job.attempt == attempt)


def record_progress(session: Session, job_id: uuid.UUID, attempt: int, *, step: int, total: int) -> bool:
    result = session.execute(_running_attempt(job_id, attempt).values(progress_step=step, progress_total=total))
    return result.rowcount == 1


def finish_job(session: Session, job_id: uuid.UUID, attempt: int, artifacts: list[NewArtifact]) -> bool:
    """Record the artifacts and mark the job succeeded, unless this attempt no longer owns it."""
    result = session.execute(
        _running_attempt(job_id, attempt).values(
            status="succeeded", finished_at=utcnow(), progress_step=Job.progress_total
        )
    )
    if result.rowcount != 1:
        return False
    session.add_all(Artifact(job_id=job_id, **vars(artifact)) for artifact in artifacts)
    return True


def fail_job(session: Session, job_id: uuid.UUID, attempt: int, *, code: str, message: str) -> bool:
    result = session.execute(
        _running_attempt(job_id, attempt).values(
            status="failed", finished_at=utcnow(), error_code=code, error_message=message[:1000]
        )
    )
    return result.rowcount == 1
