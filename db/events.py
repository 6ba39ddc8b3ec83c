"""A job's append-only event history (status, progress, artifacts, done): the
source of the event stream, whose resume point (Last-Event-ID) is the event id.

Events are appended only by db/jobs.py and db/claims.py, right after the
conditional UPDATE of the job row in the same transaction: the row lock is held
until commit, so one job's event ids grow in commit order and a reader resuming
after an id misses nothing. Never append an event for a transition that did not
happen. Each transaction appends its events in one INSERT (a job is a handful of
statements in all: docs/performance.md).

Two events are not stored as such:
- a job's creation, `status: queued`, is read from its row: it is every job's
  first event, with id 0 (below every stored id), so the INSERT of the job is the
  only write a submission makes;
- an attempt's `status: running` is not written by the claim (one UPDATE) but
  first in the attempt's first write of events (progress, reports or how the
  attempt ended: the `opening` argument of db/jobs.py's writes). A poll of the
  job shows `running` at once; an attempt whose worker died before it wrote
  anything has no `running` event, only the one of its put back or failure.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.models import JobEvent, JobStatus, utcnow

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

# session.info's key for the ids of the jobs whose events the transaction wrote.
EVENTS_WRITTEN = "genq.events_written"

# The id of a job's creation event; events_after(..., FROM_START) includes it.
CREATED_EVENT_ID = 0
FROM_START = -1

Event = tuple[str, dict[str, Any]]


def running_event(attempt: int) -> Event:
    return STATUS, {"status": JobStatus.RUNNING, "attempt": attempt}


def append_events(session: Session, rows: Sequence[tuple[uuid.UUID, str, dict[str, Any]]]) -> None:
    """(job id, type, data) rows, in order, as one INSERT."""
    if not rows:
        return
    for _job_id, type, _data in rows:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown job event type {type!r}")
    # Told to the job's listeners once the transaction commits (db/job_signals.py).
    session.info.setdefault(EVENTS_WRITTEN, set()).update(job_id for job_id, _type, _data in rows)
    now = utcnow()
    session.execute(
        insert(JobEvent).values(
            [{"job_id": job_id, "type": type, "data": data, "created_at": now} for job_id, type, data in rows]
        )
    )


def append_job_events(session: Session, job_id: uuid.UUID, events: Sequence[Event]) -> None:
    append_events(session, [(job_id, type, data) for type, data in events])


def events_after(session: Session, job_id: uuid.UUID, after_id: int = FROM_START, limit: int = 500) -> list[JobEvent]:
    """The events of an existing job with an id above `after_id`, oldest first, at
    most `limit`; from FROM_START, the first is its creation (not stored, id 0)."""
    created = (
        [JobEvent(id=CREATED_EVENT_ID, job_id=job_id, type=STATUS, data={"status": JobStatus.QUEUED})]
        if after_id < CREATED_EVENT_ID
        else []
    )
    stored = session.scalars(
        select(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
        .order_by(JobEvent.id)
        .limit(limit - len(created))
    )
    return created + list(stored)


def last_status(session: Session, job_id: uuid.UUID, *, up_to_id: int) -> dict[str, Any] | None:
    """The data of the job's last stored status event with an id up to `up_to_id`:
    where a client resuming after that id stands."""
    return session.scalar(
        select(JobEvent.data)
        .where(JobEvent.job_id == job_id, JobEvent.type == STATUS, JobEvent.id <= up_to_id)
        .order_by(JobEvent.id.desc())
        .limit(1)
    )
