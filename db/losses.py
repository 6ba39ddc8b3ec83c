"""A training job's loss series, read back from its `loss` events (written by
db.jobs.record_reports at the worker's throttled progress rate).

An attempt that resumes from a checkpoint repeats the steps after it; for each
step the value of the latest attempt counts, so the series has one point per step.
"""

import uuid
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.events import LOSS
from db.models import JobEvent

# [step, loss]; loss is None where training diverged (not finite).
LossPoint = tuple[int, float | None]


def loss_series(session: Session, job_id: uuid.UUID) -> list[LossPoint]:
    """One point per step recorded so far, in step order; the caller checks the owner."""
    by_step: dict[int, float | None] = {}
    events = session.scalars(
        select(JobEvent.data).where(JobEvent.job_id == job_id, JobEvent.type == LOSS).order_by(JobEvent.id)
    )
    for data in events:
        # Events come in commit order, so a later attempt's value replaces an earlier one's.
        by_step.update((step, loss) for step, loss in data["points"])
    return sorted(by_step.items())


def latest_losses(session: Session, job_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, LossPoint]:
    """Each job's last step's loss written so far (jobs that wrote none are absent),
    for the jobs' JSON while they train: two statements for any number of jobs."""
    if not job_ids:
        return {}
    newest = (
        select(func.max(JobEvent.id))
        .where(JobEvent.job_id.in_(job_ids), JobEvent.type == LOSS)
        .group_by(JobEvent.job_id)
    )
    rows = session.execute(select(JobEvent.job_id, JobEvent.data).where(JobEvent.id.in_(newest)))
    latest = {}
    for job_id, data in rows:
        step, loss = data["points"][-1]
        latest[job_id] = (step, loss)
    return latest
