"""Which queued jobs a worker takes next: the claim policy, here and nowhere else
(docs/reliability.md): fair share across owners, then priority, then age, and
which queued jobs may join a batch. The claim itself, like every transition,
is db/jobs.py's. Functions take a session; the caller commits.
"""

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, Subquery, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased

from db.batches import batch_images, batch_key, has_batch_key, job_batch_key
from db.jobs import claim_job
from db.kinds import kinds_on_queue
from db.models import Job, JobStatus, QueuePause, utcnow


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
        candidates = session.execute(_locked(companions.add_columns(Job.params), max_images - images), _now()).all()
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
        select(Job.params).where(_claimable([kind]), has_batch_key(key), Job.id != lead_id).limit(max_images - images),
        _now(),
    )
    for companion in companions:
        if images + batch_images(kind, companion) <= max_images:
            jobs, images = jobs + 1, images + batch_images(kind, companion)
    return QueuedBatch(jobs, images)


# The time of a claim or peek: a parameter, so that statements can be built once.
_NOW = bindparam("now", type_=Job.retry_at.type)


# How far down the claim order a claim looks for rows to lock: past those that other
# claimers hold at the moment (SKIP LOCKED), each a batch of at most GENQ_MAX_BATCH.
CLAIM_WINDOW = 256


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


def _claimable(kinds: Collection[str], *, paused_too: bool = False) -> ColumnElement[bool]:
    """Queued, of these kinds, not waiting out a retry backoff (at _NOW) and, unless
    paused_too, not of a paused kind (db/queue_admin.py)."""
    claimable = (
        (Job.status == JobStatus.QUEUED) & Job.kind.in_(kinds) & or_(Job.retry_at.is_(None), Job.retry_at <= _NOW)
    )
    return claimable if paused_too else claimable & Job.kind.not_in(select(QueuePause.kind))


def _locked(chosen: Select, limit: int) -> Select:
    """The first `limit` rows chosen, locked for this claim; rows another claimer
    holds are skipped, not waited for (Postgres; SQLite ignores the clause)."""
    return chosen.limit(limit).with_for_update(of=Job, skip_locked=True)


def _in_claim_order(kinds: Collection[str], also: ColumnElement[bool] | None = None) -> Select:
    """The ids of claimable jobs (that also match `also`) in the claim policy's order."""
    chosen, order = _claim_order(kinds, also)
    return chosen.order_by(*order)


def places_in_line(session: Session, kinds: Collection[str], job_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many claimable jobs of these kinds the claim policy would take before each
    of these queued jobs (one statement for all). A job waiting out a retry backoff
    is not claimable yet: every claimable job is ahead of it. A paused queue's jobs
    are placed as they will be taken once it resumes."""
    in_order, _place = _places(_ranking(kinds, paused_too=True))
    ranked = in_order.add_columns(func.count().over().label("claimable")).subquery("ranked")
    rows = session.execute(
        select(ranked.c.id, ranked.c.place, ranked.c.claimable).where(ranked.c.id.in_(job_ids)), _now()
    ).all()
    places = {job_id: place - 1 for job_id, place, _ in rows}
    waiting = [job_id for job_id in job_ids if job_id not in places]
    if waiting:
        claimable = (
            rows[0].claimable
            if rows
            else session.scalar(select(func.count()).where(_claimable(kinds, paused_too=True)), _now())
        )
        places.update(dict.fromkeys(waiting, claimable or 0))
    return places


@dataclass(frozen=True)
class _Ranking:
    """The claim policy over claimable jobs: `turns` (each job's id, owner, priority,
    created_at and its turn among its owner's) and `owners` (each waiting owner's
    running jobs and last claim); `order` sorts `turns` joined to `owners`."""

    claimable: ColumnElement[bool]
    turns: Subquery
    owners: CTE

    @property
    def order(self) -> tuple[ColumnElement[Any], ...]:
        turns, owners = self.turns.c, self.owners.c
        return (
            turns.turn,
            owners.running,
            owners.last_claimed_at.asc().nulls_first(),
            turns.priority.desc(),
            turns.created_at.asc(),
            turns.id.asc(),
        )


def _ranking(kinds: Collection[str], also: ColumnElement[bool] | None = None, *, paused_too: bool = False) -> _Ranking:
    claimable = _claimable(kinds, paused_too=paused_too)
    if also is not None:
        claimable = claimable & also
    within_owner = (Job.priority.desc(), Job.created_at.asc(), Job.id.asc())
    turns = (
        select(
            Job.id,
            Job.owner,
            Job.priority,
            Job.created_at,
            func.row_number().over(partition_by=Job.owner, order_by=within_owner).label("turn"),
        )
        .where(claimable)
        .subquery("turns")
    )

    history = aliased(Job, name="history")
    waiting = select(Job.owner).where(claimable).distinct().subquery("waiting")
    running = (
        select(func.count())
        .where(history.owner == waiting.c.owner, history.kind.in_(kinds), history.status == JobStatus.RUNNING)
        .scalar_subquery()
    )
    last_claimed_at = (
        select(func.max(history.started_at))
        .where(history.owner == waiting.c.owner, history.kind.in_(kinds))
        .scalar_subquery()
    )
    # A materialized CTE: computed once per waiting owner, where a subquery may be
    # rescanned, its subqueries with it, for each of the owner's queued jobs.
    owners = (
        select(waiting.c.owner, running.label("running"), last_claimed_at.label("last_claimed_at"))
        .cte("owners")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return _Ranking(claimable, turns, owners)


def _places(ranking: _Ranking) -> tuple[Select, ColumnElement[int]]:
    """Each claimable job's id and its place in the claim order (1: the next), from
    the ranking's subqueries alone: joined back to the jobs, a planner misled by a
    queue that grew faster than its statistics ran the join as a nested loop,
    O(queue²) (471 ms for a place and 761 ms for a claim at 1,287 queued; 18 and 33
    after ANALYZE)."""
    place = func.row_number().over(order_by=ranking.order).label("place")
    places = (
        select(ranking.turns.c.id, place)
        .select_from(ranking.turns)
        .join(ranking.owners, ranking.owners.c.owner == ranking.turns.c.owner)
    )
    return places, place


def _claim_order(
    kinds: Collection[str], also: ColumnElement[bool] | None = None
) -> tuple[Select, tuple[ColumnElement[Any], ...]]:
    """Claimable jobs (that also match `also`) as Job rows that can be locked, and the
    claim policy's order of them: the first CLAIM_WINDOW places, joined to the jobs
    by id (a join of at most that many rows, whatever the planner believes)."""
    ranking = _ranking(kinds, also)
    places, place = _places(ranking)
    front = places.order_by(place).limit(CLAIM_WINDOW).subquery("front")
    chosen = select(Job.id).join(front, front.c.id == Job.id).where(ranking.claimable)
    return chosen, (front.c.place,)
