"""Where a job stands and how long until it is done, estimated from the measured
seconds per step (jobs.step_seconds, written by the worker at finish) of recent
succeeded jobs of the same kind, model and shape (the kind's eta_params, which a
step's cost depends on): a p50 and a p90 estimate.

- A running job: its remaining steps at its own pace once it has reported
  progress twice (a long training run knows its step time after a few
  seconds), else at the measured step time of its shape.
- A queued job: it waits in the claim policy's order (db/claims.py: fair share,
  priority, age) for the workers of its queue. Each busy worker is free once its
  running jobs are done (priced as above); the jobs ahead are assumed to be like
  this one and each goes to the worker free first. With no worker busy, one is
  assumed to be waiting. Its own run comes after that.

Honest before clever: no estimate (None) when this job's shape was never
measured; never a number made up from defaults. A whole page of jobs is priced
with a bounded number of statements, whatever its length (job_positions).
"""

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.claims import places_in_line
from db.events import PROGRESS
from db.kinds import JobKind, find_kind, kinds_on_queue
from db.models import ACTIVE_STATUSES, Job, JobEvent, JobStatus

# The runs an estimate is made from: the most recent ones of the same shape,
# found among the most recent measured runs of the same kind and model.
RECENT_RUNS = 50
RECENT_RUNS_OF_MODEL = 1000


@dataclass(frozen=True)
class Eta:
    p50_seconds: float
    p90_seconds: float


@dataclass(frozen=True)
class Position:
    """Jobs ahead (0 once running, None when finished) and the ETA (None: unknown)."""

    queue_position: int | None
    eta: Eta | None


FINISHED = Position(None, None)


def _nearest_rank(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(math.ceil(fraction * len(sorted_values)) - 1, 0)]


Shape = tuple[str, str, tuple[Any, ...]]  # kind, model, the kind's eta_params' values


def _shape(kind: JobKind, model: str, params: dict[str, Any]) -> Shape:
    """A param left out (None: the model's native size for width/height) matches
    only runs that left it out too."""
    return kind.name, model, tuple(params.get(name) for name in kind.eta_params)


def _step_seconds_by_shape(session: Session, kind: JobKind, model: str) -> dict[Shape, tuple[float, float]]:
    """p50 and p90 seconds per step of recent succeeded runs of this kind and model, per shape."""
    rows = session.execute(
        select(Job.params, Job.step_seconds)
        .where(
            Job.model == model,
            Job.kind == kind.name,
            Job.status == JobStatus.SUCCEEDED,
            Job.step_seconds.is_not(None),
        )
        .order_by(Job.finished_at.desc())
        .limit(RECENT_RUNS_OF_MODEL)
    )
    measured: dict[Shape, list[float]] = defaultdict(list)
    for params, seconds in rows:
        runs = measured[_shape(kind, model, params)]
        if len(runs) < RECENT_RUNS:
            runs.append(seconds)
    return {shape: (_nearest_rank(sorted(v), 0.5), _nearest_rank(sorted(v), 0.9)) for shape, v in measured.items()}


def _own_step_seconds(session: Session, running: Sequence[Job]) -> dict[uuid.UUID, float]:
    """Running jobs' own seconds per step, between the first and the latest progress
    of their current attempt (so loading the model does not count); absent before two."""
    if not running:
        return {}
    ends = (
        select(func.min(JobEvent.id), func.max(JobEvent.id))
        .join(Job, Job.id == JobEvent.job_id)
        .where(
            JobEvent.job_id.in_([job.id for job in running]),
            JobEvent.type == PROGRESS,
            JobEvent.created_at >= Job.started_at,
        )
        .group_by(JobEvent.job_id)
    )
    event_ids = [event_id for pair in session.execute(ends) for event_id in pair]
    events = {
        event.id: event
        for event in session.execute(
            select(JobEvent.id, JobEvent.job_id, JobEvent.created_at, JobEvent.data).where(JobEvent.id.in_(event_ids))
        )
    }
    paces = {}
    for first_id, latest_id in zip(event_ids[::2], event_ids[1::2], strict=True):
        first, latest = events[first_id], events[latest_id]
        if latest.data["step"] > first.data["step"]:
            elapsed = (latest.created_at - first.created_at).total_seconds()
            paces[first.job_id] = elapsed / (latest.data["step"] - first.data["step"])
    return paces


class _QueuePricing:
    """What pricing the jobs of one queue needs, read once: its running jobs, their
    own paces and the measured step times of the shapes involved."""

    def __init__(self, session: Session, queue: str, jobs: Iterable[Job]) -> None:
        self.kinds = kinds_on_queue(queue)
        self.running = list(
            session.scalars(select(Job).where(Job.status == JobStatus.RUNNING, Job.kind.in_(self.kinds)))
        )
        self.paces = _own_step_seconds(session, self.running)
        self.step_seconds: dict[Shape, tuple[float, float]] = {}
        for kind_name, model in {(job.kind, job.model) for job in [*jobs, *self.running]}:
            kind = find_kind(kind_name)
            if kind is not None:
                self.step_seconds.update(_step_seconds_by_shape(session, kind, model))

    def _steps(self, kind: JobKind, job: Job) -> tuple[int, int]:
        total = job.progress_total or (int(job.params.get(kind.steps_param, 0)) if kind.steps_param else 0)
        done = job.progress_step if job.status == JobStatus.RUNNING else 0
        return total, max(total - done, 0)

    def remaining(self, job: Job) -> tuple[float, float] | None:
        """p50 and p90 seconds until this job (queued: its whole run) is done, on its own."""
        kind = find_kind(job.kind)
        if kind is None:
            return None
        total, remaining = self._steps(kind, job)
        pace = self.paces.get(job.id)
        if pace is not None:
            return remaining * pace, remaining * pace
        measured = self.step_seconds.get(_shape(kind, job.model, job.params))
        if measured is None:
            return None
        return remaining * measured[0], remaining * measured[1]

    def queued_eta(self, job: Job, ahead: int) -> Eta | None:
        own = self.remaining(job)
        if own is None:
            return None
        estimates = []
        for percentile, duration in enumerate(own):
            free_at: dict[str, float] = defaultdict(float)
            for running in self.running:
                left = self.remaining(running)
                if left is None:  # never measured: assumed like this job, as far along as it is
                    kind = find_kind(running.kind)
                    total, remaining = self._steps(kind, running) if kind else (1, 1)
                    seconds = duration * remaining / max(total, 1)
                else:
                    seconds = left[percentile]
                worker = running.lease_owner or ""
                free_at[worker] = max(free_at[worker], seconds)  # a batch's jobs finish together
            estimates.append(_start_of(ahead, list(free_at.values()) or [0.0], duration) + duration)
        return Eta(round(estimates[0], 1), round(estimates[1], 1))


def _start_of(place: int, free_at: list[float], duration: float) -> float:
    """When the job with `place` jobs ahead starts, each job ahead taking `duration`
    on the worker free first: the (place+1)-th smallest of every worker's start
    times f, f + d, f + 2d, ... found by bisection (a queue may be long)."""
    earliest = min(free_at)
    if duration <= 0 or place == 0:
        return earliest

    def started_by(moment: float) -> int:
        return sum(math.floor((moment - free) / duration) + 1 for free in free_at if moment >= free)

    low, high = earliest, earliest + place * duration  # by `high` the first free worker alone started place+1
    for _ in range(60):
        middle = (low + high) / 2
        if started_by(middle) >= place + 1:
            high = middle
        else:
            low = middle
    return high


def job_positions(session: Session, jobs: Sequence[Job]) -> dict[uuid.UUID, Position]:
    """Every job's Position, read with a few statements per queue involved (not per job)."""
    positions = {job.id: FINISHED for job in jobs if job.status not in ACTIVE_STATUSES}
    by_queue: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        kind = find_kind(job.kind)
        if job.status in ACTIVE_STATUSES and kind is not None:
            by_queue[kind.queue].append(job)
        elif job.status in ACTIVE_STATUSES:
            positions[job.id] = Position(0 if job.status == JobStatus.RUNNING else None, None)
    for queue, active in by_queue.items():
        pricing = _QueuePricing(session, queue, active)
        queued = [job for job in active if job.status == JobStatus.QUEUED]
        places = places_in_line(session, pricing.kinds, [job.id for job in queued]) if queued else {}
        for job in active:
            if job.status == JobStatus.RUNNING:
                left = pricing.remaining(job)
                eta = Eta(round(left[0], 1), round(left[1], 1)) if left else None
                positions[job.id] = Position(0, eta)
            else:
                positions[job.id] = Position(places[job.id], pricing.queued_eta(job, places[job.id]))
    return positions


def job_position(session: Session, job: Job) -> Position:
    return job_positions(session, [job])[job.id]
