"""The job state machine: queued -> running -> succeeded | failed | canceled, and
running -> queued (a retry, a lost worker). Every transition is here: claim,
reports (progress, lease), finish, fail, retry, put back, cancel, reap.

Every transition is one conditional UPDATE, so a duplicate message, a late
worker or a retried request cannot move a job twice. A worker's writes are
fenced by one predicate (_held_by: running, same attempt). Which job to claim
is db/claims.py's. Functions take a session; the caller commits.
"""

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Update, bindparam, case, false, func, or_, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from db.events import (
    ARTIFACTS,
    DONE,
    LOSS,
    PROGRESS,
    STATUS,
    TEXT,
    Event,
    append_events,
    append_job_events,
    running_event,
)
from db.failures import FailureCode
from db.models import ACTIVE_STATUSES, Artifact, Job, JobStatus, utcnow
from db.paging import newest_first
from db.session import rows_changed
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
    # A text artifact's: why its generation ended (stop, length) and its token counts.
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # An audio artifact's: samples per second and length.
    sample_rate: int | None = None
    duration_seconds: float | None = None
    # An image's CLIP score, when it was scored.
    clip_score: float | None = None


# In an artifact's `artifacts` event only when it has them: a text's usage, an
# audio's rate and length, an image's score.
KIND_SPECIFIC_FIELDS = (
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "sample_rate",
    "duration_seconds",
    "clip_score",
)


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
    enqueued_at: datetime | None = None,
    retry_of: uuid.UUID | None = None,
) -> Job:
    """max_attempts: claims before a job whose worker keeps dying or whose attempts
    keep failing is failed for good; None: the column's default. enqueued_at: set by
    a caller that sends the job's wake-up right after its commit
    (db.outbox.send_recorded_wake_up); None: the wake-up is owed. retry_of: the
    finished job this one runs again.

    One INSERT: the job's creation event is read from its row (db/events.py)."""
    job = Job(
        owner=owner,
        kind=kind,
        model=model,
        params=params,
        status=JobStatus.QUEUED,
        priority=priority,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        webhook_url=webhook_url,
        webhook_events=webhook_events,
        enqueued_at=enqueued_at,
        retry_of=retry_of,
    )
    if max_attempts is not None:
        job.max_attempts = max_attempts
    session.add(job)
    session.flush()
    return job


# Built once: building a statement and its cache key costs more CPU than a
# primary-key read itself (ops/bench/reads.py). Read afresh every time: transitions
# are UPDATEs that do not refresh objects already loaded.
_JOB_BY_ID = (
    select(Job)
    .where(Job.id == bindparam("job_id"))
    .options(joinedload(Job.artifacts))  # one query, not selectinload's two
    .execution_options(populate_existing=True)
)
_OWNED_JOB_BY_ID = _JOB_BY_ID.where(Job.owner == bindparam("owner"))


def get_job(session: Session, job_id: uuid.UUID, *, owner: str | None) -> Job | None:
    """The job, or None when it does not exist or belongs to someone else.

    owner=None is for the worker, which acts on any job it was sent."""
    if owner is None:
        return session.scalars(_JOB_BY_ID, {"job_id": job_id}).unique().one_or_none()
    return session.scalars(_OWNED_JOB_BY_ID, {"job_id": job_id, "owner": owner}).unique().one_or_none()


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


def claim_job(
    session: Session, job_id: uuid.UUID, *, worker_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> Job | None:
    """Move this queued job to running for this worker, with a lease that its
    heartbeat must renew; None if it is not queued any more. Which job a worker
    should take is decided by db.claims.claim_next_jobs, which calls this.

    One UPDATE: the attempt's `running` event goes first in its first write of
    events (`opening=True` in the functions below; db/events.py)."""
    return session.scalars(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
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


def _held_by(job_id: uuid.UUID, attempt: int) -> ColumnElement[bool]:
    """The one fence of every write of a worker: this attempt holds the job (it is
    running and no later claim took it)."""
    return (Job.id == job_id) & (Job.status == JobStatus.RUNNING) & (Job.attempt == attempt)


def _update_held(job_id: uuid.UUID, attempt: int) -> Update:
    return update(Job).where(_held_by(job_id, attempt))


# How a running attempt stands after a write of its reports.
AttemptState = Literal["running", "cancel_requested"]


def record_reports(
    session: Session,
    job_id: uuid.UUID,
    attempt: int,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    progress: tuple[int, int] | None = None,
    texts: Mapping[int, str] | None = None,
    losses: Sequence[tuple[int, float]] = (),
    opening: bool = False,
) -> AttemptState | None:
    """What a running attempt reported since its last write: its progress (step,
    total), each textgen output's text so far, training losses; in one conditional
    UPDATE of the row (which renews the lease too: a report is a sign of life) and
    one INSERT of events. Called at the worker's throttled rate, never per step.

    None (nothing written) when the attempt no longer holds the job; else whether
    its cancel was requested (the row's flag is the truth; Redis only the fast
    path). A loss that is not finite (training diverged) is stored as null: JSON
    has no NaN. opening: the attempt's first write; its `running` event goes first."""
    values: dict[str, Any] = {"lease_expires_at": utcnow() + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress_step"], values["progress_total"] = progress
    cancel_requested = session.scalar(_update_held(job_id, attempt).values(**values).returning(Job.cancel_requested))
    if cancel_requested is None:
        return None
    events: list[Event] = [running_event(attempt)] if opening else []
    if progress is not None:
        events.append((PROGRESS, {"step": progress[0], "total": progress[1]}))
    events += [(TEXT, {"index": index, "text": text}) for index, text in sorted((texts or {}).items())]
    if losses:
        stored = [[step, loss if math.isfinite(loss) else None] for step, loss in losses]
        events.append((LOSS, {"attempt": attempt, "points": stored}))
    append_job_events(session, job_id, events)
    return "cancel_requested" if cancel_requested else "running"


def finish_job(
    session: Session,
    job_id: uuid.UUID,
    attempt: int,
    artifacts: list[NewArtifact],
    *,
    result: dict[str, Any] | None = None,
    step_seconds: float | None = None,
    total_steps: int | None = None,
    opening: bool = False,
) -> bool:
    """Record the artifacts and mark the job succeeded, unless this attempt no longer owns it.

    result: the figures the job measured (an evaluation's), shown as the job's `result`.

    step_seconds: the measured seconds per progress step, which ETAs are made from.
    total_steps: the attempt's last reported total (its progress, complete); None:
    the last one written. opening: the attempt's first write (record_reports)."""
    total = Job.progress_total if total_steps is None else total_steps
    changed = rows_changed(
        session,
        _update_held(job_id, attempt).values(
            status=JobStatus.SUCCEEDED,
            finished_at=utcnow(),
            progress_step=total,
            progress_total=total,
            step_seconds=step_seconds,
            result=result,
        ),
    )
    if changed != 1:
        return False
    session.add_all(Artifact(job_id=job_id, **vars(artifact)) for artifact in artifacts)
    # Text stays in the artifact's row: the event stream serializes artifacts from there.
    described = [
        {
            key: value
            for key, value in vars(artifact).items()
            if key not in ("storage_key", "text") and (value is not None or key not in KIND_SPECIFIC_FIELDS)
        }
        for artifact in artifacts
    ]
    # The complete progress goes with the results, in the same INSERT: a job that
    # ended between two throttled progress writes still tells its watchers so.
    completed: list[Event] = [] if total_steps is None else [(PROGRESS, {"step": total_steps, "total": total_steps})]
    _append_final_events(
        session,
        job_id,
        {"status": JobStatus.SUCCEEDED, "attempt": attempt},
        before=[*completed, (ARTIFACTS, {"artifacts": described})],
        opening=opening,
    )
    return True


def fail_job(
    session: Session, job_id: uuid.UUID, attempt: int, *, code: str, message: str, opening: bool = False
) -> bool:
    message = message[:1000]
    changed = rows_changed(
        session,
        _update_held(job_id, attempt).values(
            status=JobStatus.FAILED, finished_at=utcnow(), error_code=code, error_message=message
        ),
    )
    if changed != 1:
        return False
    _append_final_events(
        session,
        job_id,
        {"status": JobStatus.FAILED, "attempt": attempt, "error": {"code": code, "message": message}},
        opening=opening,
    )
    return True


def _append_final_events(
    session: Session, job_id: uuid.UUID, status: dict[str, Any], *, before: Sequence[Event] = (), opening: bool = False
) -> None:
    """`opening`: the attempt (status["attempt"]) wrote nothing yet: its `running` event goes first."""
    opened = [running_event(status["attempt"])] if opening else []
    append_job_events(session, job_id, [*opened, *before, (STATUS, status), (DONE, {"status": status["status"]})])


CancelOutcome = Literal["canceled", "cancel_requested", "finished", "not_found"]


def reprioritize_queued_job(session: Session, job_id: uuid.UUID, *, owner: str, priority: int) -> bool:
    """Give the owner's queued job this priority (its place within the owner's turn);
    False when it is not queued (any more), so a claim racing with it wins cleanly."""
    changed = rows_changed(
        session,
        update(Job)
        .where(Job.id == job_id, Job.owner == owner, Job.status == JobStatus.QUEUED)
        .values(priority=priority)
        .execution_options(synchronize_session=False),
    )
    return changed == 1


def cancel_job(session: Session, job_id: uuid.UUID, *, owner: str) -> CancelOutcome:
    """Cancel a queued job at once (it never starts: claim wants `queued`), or flag a
    running one for its worker, which ends it `canceled` at its next step.

    One UPDATE for both, so a claim racing with the cancel is either before it (the
    job is flagged) or after it (the claim finds the job canceled)."""
    was_queued = Job.status == JobStatus.QUEUED
    new_status = session.scalar(
        update(Job)
        .where(Job.id == job_id, Job.owner == owner, Job.status.in_(ACTIVE_STATUSES))
        .values(
            cancel_requested=True,
            status=case((was_queued, JobStatus.CANCELED), else_=Job.status),
            finished_at=case((was_queued, utcnow()), else_=Job.finished_at),
        )
        .returning(Job.status)
        .execution_options(synchronize_session=False)
    )
    if new_status == JobStatus.CANCELED:
        _append_final_events(session, job_id, {"status": JobStatus.CANCELED})
        return "canceled"
    if new_status == JobStatus.RUNNING:
        return "cancel_requested"
    exists = session.scalar(select(func.count()).where(Job.id == job_id, Job.owner == owner))
    return "finished" if exists else "not_found"


def end_canceled_job(
    session: Session,
    job_id: uuid.UUID,
    attempt: int,
    *,
    step: int,
    total: int | None = None,
    opening: bool = False,
) -> bool:
    """The worker stopped this attempt at `step` (of `total`; None: the last total
    written) because of a cancel; nothing it made is kept."""
    changed = rows_changed(
        session,
        _update_held(job_id, attempt).values(
            status=JobStatus.CANCELED,
            finished_at=utcnow(),
            progress_step=step,
            progress_total=Job.progress_total if total is None else total,
        ),
    )
    if changed != 1:
        return False
    _append_final_events(
        session, job_id, {"status": JobStatus.CANCELED, "attempt": attempt, "step": step}, opening=opening
    )
    return True


def renew_lease(session: Session, job_id: uuid.UUID, attempt: int, *, lease_seconds: float) -> bool:
    """Extend this attempt's lease; False when the attempt no longer holds the job."""
    changed = rows_changed(
        session,
        update(Job)
        .where(_held_by(job_id, attempt))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds)),
    )
    return changed == 1


def retry_job(
    session: Session,
    job_id: uuid.UUID,
    attempt: int,
    *,
    code: str,
    message: str,
    delay_seconds: float,
    opening: bool = False,
) -> str | None:
    """Put this attempt's job back in the queue, to be claimed again no sooner than
    delay_seconds from now; `canceled` instead if its cancel was requested meanwhile.
    Returns the job's new status, None if the attempt no longer held it. The failure
    is kept in the job's events; the row's error says only how a job ended.
    opening: the attempt's first write (db.jobs.record_reports)."""
    retry_at = utcnow() + timedelta(seconds=delay_seconds)
    put_back = _put_back(
        session,
        _held_by(job_id, attempt),
        {"retry_at": retry_at.isoformat(), "error": {"code": code, "message": message[:1000]}},
        opening=opening,
        retry_at=retry_at,
    )
    return put_back[0][1] if put_back else None


def release_job(session: Session, job_id: uuid.UUID, attempt: int, *, opening: bool = False) -> str | None:
    """Put this attempt's job back in the queue at once because its worker is
    stopping (draining): no failure, so the attempt is given back (max_attempts
    grows by one) and the next one resumes from the job's checkpoint if it has one;
    `canceled` instead if its cancel was requested meanwhile. Returns the job's new
    status, None if the attempt no longer held it; its wake-up is owed (db.outbox)."""
    put_back = _put_back(
        session,
        _held_by(job_id, attempt),
        {"reason": "worker_draining"},
        opening=opening,
        max_attempts=Job.max_attempts + 1,
    )
    return put_back[0][1] if put_back else None


def recover_expired_leases(session: Session, *, time_limits: Mapping[str, float]) -> list[uuid.UUID]:
    """Deal with every running job whose lease ran out (its worker died, hung or
    lost the database), unless its cancel was requested (then it ends canceled):

    - failed `time_limit` when its attempt started longer ago than its kind's time
      limit (seconds per kind): the limit killed the worker's process;
    - failed `worker_lost` once it was claimed max_attempts times;
    - else queued again. Returns these; their wake-ups are owed (db.outbox sends them).
    """
    now = utcnow()
    expired = (Job.status == JobStatus.RUNNING) & (Job.lease_expires_at < now) & Job.cancel_requested.is_(False)
    over_time = or_(
        false(),
        *(
            (Job.kind == kind) & (Job.started_at < now - timedelta(seconds=seconds))
            for kind, seconds in time_limits.items()
        ),
    )
    _fail(session, expired & over_time, FailureCode.TIME_LIMIT, "the job ran past its time limit and was stopped", now)
    _fail(
        session,
        expired & (Job.attempt >= Job.max_attempts),
        FailureCode.WORKER_LOST,
        "its worker stopped renewing the lease (died, hung or was cut off) on the last attempt",
        now,
    )
    put_back = _put_back(
        session, (Job.status == JobStatus.RUNNING) & (Job.lease_expires_at < now), {"reason": FailureCode.WORKER_LOST}
    )
    return [job_id for job_id, status in put_back if status == JobStatus.QUEUED]


def _fail(session: Session, condition, code: str, message: str, now: datetime) -> None:
    failed = session.execute(
        update(Job)
        .where(condition)
        .values(status=JobStatus.FAILED, finished_at=now, lease_expires_at=None, error_code=code, error_message=message)
        .returning(Job.id, Job.attempt)
        .execution_options(synchronize_session=False)
    ).all()
    error = {"code": code, "message": message}
    append_events(
        session,
        [
            event
            for job_id, attempt in failed
            for event in (
                (job_id, STATUS, {"status": JobStatus.FAILED, "attempt": attempt, "error": error}),
                (job_id, DONE, {"status": JobStatus.FAILED}),
            )
        ],
    )


def _put_back(
    session: Session, condition, event: dict[str, Any], *, opening: bool = False, **values: Any
) -> list[tuple[uuid.UUID, str]]:
    """Running jobs matching `condition` back to queued, with no lease and their
    wake-up owed, or to canceled where a cancel was requested: (id, new status) each.
    opening: their attempts wrote no events yet (their `running` event goes first)."""
    now = utcnow()
    rows = session.execute(
        update(Job)
        .where(condition)
        .values(
            status=case((Job.cancel_requested, JobStatus.CANCELED), else_=JobStatus.QUEUED),
            finished_at=case((Job.cancel_requested, now), else_=None),
            lease_owner=None,
            lease_expires_at=None,
            enqueued_at=None,
            **values,
        )
        .returning(Job.id, Job.status, Job.attempt)
        .execution_options(synchronize_session=False)
    ).all()
    events = []
    for job_id, status, attempt in rows:
        if opening:
            events.append((job_id, *running_event(attempt)))
        if status == JobStatus.CANCELED:
            events += [
                (job_id, STATUS, {"status": JobStatus.CANCELED, "attempt": attempt}),
                (job_id, DONE, {"status": JobStatus.CANCELED}),
            ]
        else:
            events.append((job_id, STATUS, {"status": JobStatus.QUEUED, "attempt": attempt, **event}))
    append_events(session, events)
    return [(job_id, status) for job_id, status, _attempt in rows]
