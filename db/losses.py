"""A training job's loss series, read back from its `loss` events (written by
db.jobs.record_reports at the worker's throttled progress rate).

An attempt that resumes from a checkpoint repeats the steps after it; for each
step the value of the latest attempt counts, so the series has one point per step.
"""

import uuid

from sqlalchemy import select
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


def latest_loss(session: Session, job_id: uuid.UUID) -> LossPoint | None:
    """The last step's loss written so far, for the job's JSON while it trains."""
    data = session.scalar(
        select(JobEvent.data)
        .where(JobEvent.job_id == job_id, JobEvent.type == LOSS)
        .order_by(JobEvent.id.desc())
        .limit(1)
    )
    if data is None:
        return None
    step, loss = data["points"][-1]
    return step, loss
