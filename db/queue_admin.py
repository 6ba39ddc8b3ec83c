"""Queue administration (admin keys only): pause and resume a kind's queue, see
each queue at a glance, and the workers that reported in. A paused kind's jobs
are still accepted and queued; no worker claims them (db/claims.py skips paused
kinds). Functions take a session; the caller commits.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.kinds import job_kinds
from db.models import Job, JobStatus, QueuePause, WorkerSeen, utcnow

# A worker reports each upkeep round (GENQ_MAINTENANCE_INTERVAL_SECONDS); one not
# heard from for this long is not counted, and after a day its row is dropped.
WORKER_SEEN_WITHIN = timedelta(minutes=1)
WORKER_FORGOTTEN_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class QueueState:
    kind: str
    queue: str
    queued: int
    running: int
    oldest_queued_seconds: float | None
    paused: bool
    workers: int


def pause_queue(session: Session, kind: str, *, by: str) -> None:
    """Stop workers claiming this kind's jobs; pausing a paused queue keeps its first pause."""
    if session.get(QueuePause, kind) is None:
        session.add(QueuePause(kind=kind, paused_by=by))
        session.flush()


def resume_queue(session: Session, kind: str) -> None:
    session.execute(delete(QueuePause).where(QueuePause.kind == kind))


def paused_kinds(session: Session) -> set[str]:
    return set(session.scalars(select(QueuePause.kind)))


def record_worker_seen(session: Session, worker_id: str, kinds: list[str]) -> None:
    """This worker is alive and takes these kinds; rows of workers gone a day are dropped."""
    now = utcnow()
    seen = session.get(WorkerSeen, worker_id)
    if seen is None:
        session.add(WorkerSeen(worker_id=worker_id, kinds=kinds, last_seen_at=now))
    else:
        seen.kinds, seen.last_seen_at = kinds, now
    session.execute(delete(WorkerSeen).where(WorkerSeen.last_seen_at < now - WORKER_FORGOTTEN_AFTER))


def queue_states(session: Session) -> list[QueueState]:
    """Every known kind's queue: counts, the oldest queued job's age, pause, live workers."""
    now = utcnow()
    counts = {
        (kind, status): (count, oldest)
        for kind, status, count, oldest in session.execute(
            select(Job.kind, Job.status, func.count(), func.min(Job.created_at))
            .where(Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
            .group_by(Job.kind, Job.status)
        )
    }
    paused = paused_kinds(session)
    live = session.scalars(select(WorkerSeen.kinds).where(WorkerSeen.last_seen_at >= now - WORKER_SEEN_WITHIN)).all()
    states = []
    for kind in job_kinds().values():
        queued, oldest = counts.get((kind.name, JobStatus.QUEUED), (0, None))
        running, _ = counts.get((kind.name, JobStatus.RUNNING), (0, None))
        states.append(
            QueueState(
                kind=kind.name,
                queue=kind.queue,
                queued=queued,
                running=running,
                oldest_queued_seconds=_age(now, oldest),
                paused=kind.name in paused,
                workers=sum(kind.name in kinds for kinds in live),
            )
        )
    return states


def _age(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 1)
