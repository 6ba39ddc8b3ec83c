"""How long until a job is done, estimated from the measured seconds per step
(jobs.step_seconds, written by the worker at finish) of recent succeeded jobs of
the same kind, model and shape (the kind's eta_params, which a step's cost
depends on): a p50 and a p90 estimate. A running job that has reported progress twice is priced at its
own pace instead: a long training run knows its step time after a few seconds.

Honest before clever: no estimate (None) when no run of that shape was measured;
never a number made up from defaults.
"""

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.events import PROGRESS
from db.kinds import find_kind
from db.models import Job, JobEvent, JobStatus

# The runs an estimate is made from: the most recent ones of the same shape.
RECENT_RUNS = 50


@dataclass(frozen=True)
class Eta:
    p50_seconds: float
    p90_seconds: float


def _nearest_rank(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(math.ceil(fraction * len(sorted_values)) - 1, 0)]


def step_seconds_percentiles(session: Session, job: Job) -> tuple[float, float] | None:
    """p50 and p90 seconds per step of recent succeeded runs shaped like `job`. A
    param left out (None: the model's native size for width/height) matches only
    runs that left it out too."""
    params = job.params
    query = select(Job.step_seconds).where(
        Job.model == job.model,
        Job.kind == job.kind,
        Job.status == JobStatus.SUCCEEDED,
        Job.step_seconds.is_not(None),
    )
    kind = find_kind(job.kind)
    for name in kind.eta_params if kind is not None else ():
        value = Job.params[name].as_integer()
        query = query.where(value.is_(None) if params.get(name) is None else value == params[name])
    values = sorted(session.scalars(query.order_by(Job.finished_at.desc()).limit(RECENT_RUNS)))
    if not values:
        return None
    return _nearest_rank(values, 0.5), _nearest_rank(values, 0.9)


def own_step_seconds(session: Session, job: Job) -> float | None:
    """A running job's own seconds per step, between the first and the latest progress
    of its current attempt (so loading the model does not count); None before two."""
    this_attempt = select(JobEvent.created_at, JobEvent.data).where(
        JobEvent.job_id == job.id, JobEvent.type == PROGRESS, JobEvent.created_at >= job.started_at
    )
    first = session.execute(this_attempt.order_by(JobEvent.id).limit(1)).first()
    latest = session.execute(this_attempt.order_by(JobEvent.id.desc()).limit(1)).first()
    if first is None or latest is None or latest.data["step"] <= first.data["step"]:
        return None
    elapsed = (latest.created_at - first.created_at).total_seconds()
    return elapsed / (latest.data["step"] - first.data["step"])


def estimate_job(session: Session, job: Job, queue_position: int | None) -> Eta | None:
    """Seconds until the job is done. Running: its remaining steps at its own pace,
    else at the measured step time. Queued: its own run, plus the jobs ahead of it
    assumed to be like it and shared among the workers now running jobs of its kind."""
    kind = find_kind(job.kind)
    if job.status not in (JobStatus.QUEUED, "running") or kind is None:
        return None
    total_steps = job.progress_total or int(job.params.get(kind.steps_param, 0))
    if job.status == JobStatus.RUNNING:
        remaining = max(total_steps - job.progress_step, 0)
        own = own_step_seconds(session, job) if job.started_at is not None else None
        if own is not None:
            return Eta(round(remaining * own, 1), round(remaining * own, 1))
    step_seconds = step_seconds_percentiles(session, job)
    if step_seconds is None:
        return None
    if job.status == JobStatus.RUNNING:
        runs = remaining / max(total_steps, 1)
    else:
        busy_workers = session.scalar(
            select(func.count(func.distinct(Job.lease_owner))).where(
                Job.status == JobStatus.RUNNING, Job.kind == job.kind
            )
        )
        runs = 1 + (queue_position or 0) / max(busy_workers, 1)
    p50, p90 = (round(runs * total_steps * seconds, 1) for seconds in step_seconds)
    return Eta(p50, p90)
