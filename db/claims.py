"""Which queued job a worker takes next, and the lease it holds while running it.

The claim policy lives here and nowhere else (docs/reliability.md): fair share
across owners, then priority, then age. A running job's lease is renewed by its
worker's heartbeat; a job whose lease ran out is put back in the queue by any
worker's maintenance. Every change is one conditional UPDATE, so many workers
doing the same thing at once is harmless. Functions take a session; the caller commits.
"""

import uuid
from collections.abc import Collection, Mapping
from functools import lru_cache
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, false, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from db.batches import batch_images, batch_key, has_batch_key, job_batch_key
from db.events import DONE, STATUS, append_events, running_event
from db.jobs import claim_job
from db.models import Job, utcnow
from db.kinds import kinds_on_queue

WORKER_LOST = "worker_lost"
TIME_LIMIT = "time_limit"


def wake_up_kinds(session: Session, queue: str | None, hint: uuid.UUID) -> list[str]:
    """The kinds a wake-up may claim: those of the queue it came from, or without a
    queue (a call made outside the broker) the kind of the job it names."""
    if queue is not None:
        return kinds_on_queue(queue)
    kind = session.scalar(select(Job.kind).where(Job.id == hint))
    return [] if kind is None else [kind]


def claim_next_jobs(
    session: Session, *, kinds: Collection[str], worker_id: str, lease_seconds: float, limit: int = 1
) -> list[Job]:
    """Claim up to `limit` queued jobs of these kinds for this worker, in this order:

    1. the owner with the fewest jobs of these kinds running goes first; among
       equals, the owner whose most recent claim is the oldest (never: first), so
       owners take turns however many jobs each has queued;
    2. within an owner, higher priority first, then the oldest job;
    3. several jobs at once (limit > 1, a GPU batch) take turns too: every
       owner's first job in the order above, then every owner's second, ...

    Jobs waiting out a retry backoff are skipped. On Postgres the chosen rows are
    locked FOR UPDATE SKIP LOCKED, so concurrent claimers take different jobs
    without waiting on each other; SQLite has one writer, and a claimer that
    lost a race for a row simply chooses again.
    """
    claimed: list[Job] = []
    while len(claimed) < limit:
        chosen = session.scalars(_next_jobs(tuple(kinds), limit - len(claimed)), _now()).all()
        if not chosen:
            break
        for job_id in chosen:
            job = claim_job(session, job_id, worker_id=worker_id, lease_seconds=lease_seconds)
            if job is not None:
                claimed.append(job)
    return claimed


def claim_batch(
    session: Session, *, kinds: Collection[str], worker_id: str, lease_seconds: float, max_images: int
) -> list[Job]:
    """Claim the next job by the policy above and, when its kind is batched, queued
    jobs that can share its pipeline call (db/batches.py: same batch key), taken
    in the same policy order while the batch's images stay within max_images; a
    job that would overflow is passed over for a smaller one behind it. The first
    job is claimed however many images it asks for. Returns the batch, the first
    job first; empty when nothing is queued."""
    batch = claim_next_jobs(session, kinds=kinds, worker_id=worker_id, lease_seconds=lease_seconds)
    key = job_batch_key(batch[0]) if batch else None
    if key is None:
        return batch
    images = batch_images(key.kind, batch[0].params)
    passed_over: set[uuid.UUID] = set()
    while images < max_images:
        companions = _in_claim_order([key.kind], has_batch_key(key) & Job.id.not_in(passed_over))
        # Every job adds at least one image: no more candidates than images of room.
        candidates = session.execute(
            _locked(companions.add_columns(Job.params), max_images - images), _now()
        ).all()
        if not candidates:
            break
        for job_id, params in candidates:
            job = None
            if images + batch_images(key.kind, params) <= max_images:
                job = claim_job(session, job_id, worker_id=worker_id, lease_seconds=lease_seconds)
            if job is None:  # too big for the room left, or (SQLite) claimed by a rival meanwhile
                passed_over.add(job_id)
                continue
            batch.append(job)
            images += batch_images(key.kind, params)
    return batch


@dataclass(frozen=True)
class QueuedBatch:
    """What claim_batch would take right now: jobs and their images (0, 0: nothing queued)."""

    jobs: int
    images: int


def peek_batch(session: Session, *, kinds: Collection[str], max_images: int) -> QueuedBatch:
    """The batch the next claim would take, read without locking or writing
    anything: a worker waits a little for companions only while this shows some
    queued (jobs > 1) and the batch still has room (images < max_images)."""
    lead = session.execute(_next_lead(tuple(kinds)), _now()).first()
    if lead is None:
        return QueuedBatch(0, 0)
    lead_id, kind, model, params = lead
    jobs, images = 1, batch_images(kind, params)
    key = batch_key(kind, model, params)
    if key is None or images >= max_images:
        return QueuedBatch(jobs, images)
    companions = session.scalars(
        select(Job.params)
        .where(_claimable([kind]), has_batch_key(key), Job.id != lead_id)
        .limit(max_images - images),
        _now(),
    )
    for companion in companions:
        if images + batch_images(kind, companion) <= max_images:
            jobs, images = jobs + 1, images + batch_images(kind, companion)
    return QueuedBatch(jobs, images)


# The time of a claim or peek: a parameter, so that statements can be built once.
_NOW = bindparam("now", type_=Job.retry_at.type)


def _now() -> dict[str, datetime]:
    return {"now": utcnow()}


@lru_cache(maxsize=64)
def _next_jobs(kinds: tuple[str, ...], limit: int) -> Select:
    """claim_next_jobs' statement, built once per kinds and limit: building this
    SELECT of subqueries and computing its SQL cache key took milliseconds of
    every claim (the most of a wake-up's time to start on an idle worker)."""
    return _locked(_in_claim_order(kinds), limit)


@lru_cache(maxsize=64)
def _next_lead(kinds: tuple[str, ...]) -> Select:
    """peek_batch's first statement, built once per kinds (as _next_jobs): a
    batching worker runs it before every claim and while it waits for companions."""
    return _in_claim_order(kinds).add_columns(Job.kind, Job.model, Job.params).limit(1)


def _claimable(kinds: Collection[str]) -> ColumnElement[bool]:
    """Queued, of these kinds, and not waiting out a retry backoff (at _NOW)."""
    return (Job.status == "queued") & Job.kind.in_(kinds) & or_(Job.retry_at.is_(None), Job.retry_at <= _NOW)


def _locked(chosen: Select, limit: int) -> Select:
    """The first `limit` rows chosen, locked for this claim; rows another claimer
    holds are skipped, not waited for (Postgres; SQLite ignores the clause)."""
    return chosen.limit(limit).with_for_update(of=Job, skip_locked=True)


def _in_claim_order(kinds: Collection[str], also: ColumnElement[bool] | None = None) -> Select:
    """The ids of claimable jobs (that also match `also`) in the claim policy's order."""
    claimable = _claimable(kinds) if also is None else _claimable(kinds) & also
    within_owner = (Job.priority.desc(), Job.created_at, Job.id)
    turns = select(
        Job.id, func.row_number().over(partition_by=Job.owner, order_by=within_owner).label("turn")
    ).where(claimable).subquery("turns")

    history = aliased(Job, name="history")
    waiting = select(Job.owner).where(claimable).distinct().subquery("waiting")
    running = (
        select(func.count())
        .where(history.owner == waiting.c.owner, history.kind.in_(kinds), history.status == "running")
        .scalar_subquery()
    )
    last_claimed_at = (
        select(func.max(history.started_at))
        .where(history.owner == waiting.c.owner, history.kind.in_(kinds))
        .scalar_subquery()
    )
    owners = select(
        waiting.c.owner, running.label("running"), last_claimed_at.label("last_claimed_at")
    ).subquery("owners")
    return (
        select(Job.id)
        .join(turns, turns.c.id == Job.id)
        .join(owners, owners.c.owner == Job.owner)
        .where(claimable)
        .order_by(turns.c.turn, owners.c.running, owners.c.last_claimed_at.asc().nulls_first(), *within_owner)
    )


def _held_by(job_id: uuid.UUID, attempt: int):
    """This attempt holds the job: it is running and no later claim took it."""
    return (Job.id == job_id) & (Job.status == "running") & (Job.attempt == attempt)


def renew_lease(session: Session, job_id: uuid.UUID, attempt: int, *, lease_seconds: float) -> bool:
    """Extend this attempt's lease; False when the attempt no longer holds the job."""
    result = session.execute(
        update(Job)
        .where(_held_by(job_id, attempt))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
    )
    return result.rowcount == 1


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


def recover_expired_leases(session: Session, *, time_limits: Mapping[str, float]) -> list[uuid.UUID]:
    """Deal with every running job whose lease ran out (its worker died, hung or
    lost the database), unless its cancel was requested (then it ends canceled):

    - failed `time_limit` when its attempt started longer ago than its kind's time
      limit (seconds per kind): the limit killed the worker's process;
    - failed `worker_lost` once it was claimed max_attempts times;
    - else queued again. Returns these; their wake-ups are owed (db.outbox sends them).
    """
    now = utcnow()
    expired = (Job.status == "running") & (Job.lease_expires_at < now) & Job.cancel_requested.is_(False)
    over_time = or_(
        false(),
        *(
            (Job.kind == kind) & (Job.started_at < now - timedelta(seconds=seconds))
            for kind, seconds in time_limits.items()
        ),
    )
    _fail(session, expired & over_time, TIME_LIMIT, "the job ran past its time limit and was stopped", now)
    _fail(
        session,
        expired & (Job.attempt >= Job.max_attempts),
        WORKER_LOST,
        "its worker stopped renewing the lease (died, hung or was cut off) on the last attempt",
        now,
    )
    put_back = _put_back(
        session, (Job.status == "running") & (Job.lease_expires_at < now), {"reason": WORKER_LOST}
    )
    return [job_id for job_id, status in put_back if status == "queued"]


def _fail(session: Session, condition, code: str, message: str, now: datetime) -> None:
    failed = session.execute(
        update(Job)
        .where(condition)
        .values(status="failed", finished_at=now, lease_expires_at=None, error_code=code, error_message=message)
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
                (job_id, STATUS, {"status": "failed", "attempt": attempt, "error": error}),
                (job_id, DONE, {"status": "failed"}),
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
            status=case((Job.cancel_requested, "canceled"), else_="queued"),
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
        if status == "canceled":
            events += [
                (job_id, STATUS, {"status": "canceled", "attempt": attempt}),
                (job_id, DONE, {"status": "canceled"}),
            ]
        else:
            events.append((job_id, STATUS, {"status": "queued", "attempt": attempt, **event}))
    append_events(session, events)
    return [(job_id, status) for job_id, status, _attempt in rows]
