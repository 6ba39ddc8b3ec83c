"""A job's append-only event history (status, progress, artifacts, done): the
source of the event stream, whose resume point (Last-Event-ID) is the event id.

Events are appended only by db/jobs.py, right after the conditional UPDATE of the
job row in the same transaction: the row lock is held until commit, so one job's
event ids grow in commit order and a reader resuming after an id misses nothing.
Never append an event for a transition that did not happen.
"""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import JobEvent

STATUS = "status"
PROGRESS = "progress"
ARTIFACTS = "artifacts"
# A textgen output's text so far: {"index", "text"}, at the throttled progress rate.
TEXT = "text"
# The training loss of optimisation steps: {"attempt", "points": [[step, loss], ...]},
# at the throttled progress rate; db/losses.py reads the series back.
LOSS = "loss"
# The last event of every job: its data is the final status.
DONE = "done"
EVENT_TYPES = (STATUS, PROGRESS, TEXT, LOSS, ARTIFACTS, DONE)


def append_event(session: Session, job_id: uuid.UUID, type: str, data: dict[str, Any]) -> JobEvent:
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown job event type {type!r}")
    event = JobEvent(job_id=job_id, type=type, data=data)
    session.add(event)
    session.flush()
    return event


def events_after(session: Session, job_id: uuid.UUID, after_id: int, limit: int = 500) -> list[JobEvent]:
    """The job's events with an id above `after_id`, oldest first, at most `limit`."""
    return list(
        session.scalars(
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
            .order_by(JobEvent.id)
            .limit(limit)
        )
    )
