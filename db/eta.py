"""How long until a job is done, estimated from the measured seconds per step
(jobs.step_seconds, written by the worker at finish) of recent succeeded jobs of
the same model, image size and number of images: a p50 and a p90 estimate.

Honest before clever: no estimate (None) when no run of that shape was measured;
never a number made up from defaults.
"""

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Job

# The runs an estimate is made from: the most recent ones of the same shape.
RECENT_RUNS = 50


@dataclass(frozen=True)
class Eta:
    p50_seconds: float
    p90_seconds: float


def _nearest_rank(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(math.ceil(fraction * len(sorted_values)) - 1, 0)]


def step_seconds_percentiles(session: Session, job: Job) -> tuple[float, float] | None:
    """p50 and p90 seconds per step of recent succeeded runs shaped like `job`."""
    params = job.params
    query = select(Job.step_seconds).where(
        Job.model == job.model,
        Job.kind == job.kind,
        Job.status == "succeeded",
        Job.step_seconds.is_not(None),
    )
    for name in ("width", "height", "num_images"):
        value = Job.params[name].as_integer()
        # None is the model's native size, the same for every job of this model.
        query = query.where(value.is_(None) if params.get(name) is None else value == params[name])
    values = sorted(session.scalars(query.order_by(Job.finished_at.desc()).limit(RECENT_RUNS)))
    if not values:
        return None
    return _nearest_rank(values, 0.5), _nearest_rank(values, 0.9)


def estimate_job(session: Session, job: Job, queue_position: int | None) -> Eta | None:
    """Seconds until the job is done. Running: its remaining steps at the measured
    step time. Queued: its own run, plus the jobs ahead of it assumed to be like it
    and shared among the workers now running jobs of its kind."""
    if job.status not in ("queued", "running"):
        return None
    step_seconds = step_seconds_percentiles(session, job)
    if step_seconds is None:
        return None
    total_steps = job.progress_total or int(job.params.get("steps", 0))
    if job.status == "running":
        runs = max(total_steps - job.progress_step, 0) / max(total_steps, 1)
    else:
        busy_workers = session.scalar(
            select(func.count(func.distinct(Job.lease_owner))).where(Job.status == "running", Job.kind == job.kind)
        )
        runs = 1 + (queue_position or 0) / max(busy_workers, 1)
    p50, p90 = (round(runs * total_steps * seconds, 1) for seconds in step_seconds)
    return Eta(p50, p90)
