"""The outbox half of the queue contract: a queued job is owed a wake-up message
until one has been sent (jobs.enqueued_at), and the reconciler sends those that
never left (a crash between commit and send, the broker down at submit) or that
the broker lost (Redis restarted empty). Sends only for queued jobs; a duplicate
wake-up is harmless because every claim is conditional.
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta

from celery import Celery
from kombu.exceptions import ChannelError
from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.kinds import job_kinds, kinds_on_queue
from db.models import Job, JobStatus, QueuePause, utcnow
from db.queue import send_job

log = logging.getLogger(__name__)


def send_wake_up(session: Session, celery: Celery, job_id: uuid.UUID, kind: str) -> None:
    """Record that the job's wake-up is leaving, commit, then send it (as
    send_recorded_wake_up). Call only after the job's row is committed, with a
    session in no transaction of the caller's.

    The record is committed before the send: its UPDATE locks the row until commit,
    and a worker woken at once claims with SKIP LOCKED, so it would pass over the
    locked job and drop the wake-up (seen as 30-90 s stalls on Postgres)."""
    _record_wake_up(session, job_id, utcnow())
    send_recorded_wake_up(session, celery, job_id, kind)


def send_recorded_wake_up(session: Session, celery: Celery, job_id: uuid.UUID, kind: str) -> None:
    """Send the wake-up of a job whose committed row already records it as sent
    (enqueued_at; a new job records it in its INSERT: db.jobs.create_job); when the
    send fails, record the wake-up as owed again (committed) and re-raise. A crash
    between the commit and the send leaves a job marked sent without a message:
    the lost-message check of resend_owed_wake_ups sends it again."""
    try:
        send_job(celery, job_id, job_kinds()[kind].queue)
    except Exception:
        _record_wake_up(session, job_id, None)
        raise


def _record_wake_up(session: Session, job_id: uuid.UUID, sent_at) -> None:
    session.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED).values(enqueued_at=sent_at))
    session.commit()


def waiting_wake_ups(celery: Celery, queue: str) -> int:
    """Messages waiting in the broker on this queue (not those a worker already holds)."""
    with celery.connection_for_write() as connection:
        try:
            return int(connection.default_channel.queue_declare(queue=queue, passive=True).message_count)
        except ChannelError:  # the broker has no such queue: nothing is waiting
            return 0


def resend_owed_wake_ups(sessions: sessionmaker[Session], celery: Celery, *, resend_after_seconds: float) -> int:
    """Send the wake-ups owed for at least resend_after_seconds; returns how many.

    Owed: a runnable queued job whose wake-up never left, or, when the broker
    holds fewer wake-ups for a queue than it has runnable queued jobs, as many of
    the jobs sent longest ago as are missing (so a long but healthy backlog is not
    sent again and again)."""
    now = utcnow()
    overdue = now - timedelta(seconds=resend_after_seconds)
    sent = 0
    for queue in sorted({kind.queue for kind in job_kinds().values()}):
        runnable = (
            (Job.status == JobStatus.QUEUED)
            & Job.kind.in_(kinds_on_queue(queue))
            & or_(Job.retry_at.is_(None), Job.retry_at <= now)
            # A paused kind's jobs are owed nothing until it resumes (db/queue_admin.py).
            & Job.kind.not_in(select(QueuePause.kind))
        )
        with sessions() as session:
            never_sent = session.execute(
                select(Job.id, Job.kind).where(runnable, Job.enqueued_at.is_(None), Job.created_at < overdue)
            ).all()
        sent += _send_all(sessions, celery, never_sent)

        with sessions() as session:
            missing = session.scalars(select(func.count()).where(runnable)).one() - waiting_wake_ups(celery, queue)
            lost = (
                session.execute(
                    select(Job.id, Job.kind)
                    .where(runnable, Job.enqueued_at < overdue)
                    .order_by(Job.enqueued_at)
                    .limit(missing)
                ).all()
                if missing > 0
                else []
            )
        sent += _send_all(sessions, celery, lost)
    return sent


def _send_all(sessions: sessionmaker[Session], celery: Celery, jobs: Sequence[Row[uuid.UUID, str]]) -> int:
    with sessions() as session:
        for job_id, kind in jobs:
            send_wake_up(session, celery, job_id, kind)
    if jobs:
        log.info("sent %d owed wake-up message(s): %s", len(jobs), ", ".join(str(job_id) for job_id, _ in jobs))
    return len(jobs)
