"""Cancelling a job, shared by the JSON API and the job page: one conditional
UPDATE, commit, then the Redis signal that stops a running job at its next step
(or, for a job canceled at once, its `canceled` webhook). Never stops a worker
any other way (no Celery revoke or terminate)."""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.cancellation import signal_cancel
from db.job_signals import publish_status
from db.jobs import CancelOutcome, cancel_job, get_job
from db.models import ACTIVE_STATUSES, Job
from db.webhooks import announce
from web.context import Platform


def cancel_owned_job(session: Session, services: Platform, job_id: uuid.UUID, *, owner: str) -> CancelOutcome:
    outcome = cancel_job(session, job_id, owner=owner)
    session.commit()
    # After the commit: the worker may read the row as soon as it sees the key,
    # and a webhook receiver may read the job as soon as it is told.
    if outcome == "cancel_requested":
        signal_cancel(services.settings, job_id)
        # Its streams read the row again and send no more previews (web/api/events.py).
        publish_status(services.settings, job_id, "cancel_requested")
    elif outcome == "canceled":
        publish_status(services.settings, job_id, "canceled")
        job = get_job(session, job_id, owner=owner)
        assert job is not None  # canceled by this session's own commit
        announce(services.celery, job, "canceled")
    return outcome


def cancel_owner_jobs(session: Session, services: Platform, owner: str) -> int:
    """Cancel every queued or running job of this owner (an admin's stop); returns how
    many were canceled or asked to stop. Each is cancelled as its owner would."""
    active = session.scalars(select(Job.id).where(Job.owner == owner, Job.status.in_(ACTIVE_STATUSES))).all()
    outcomes = [cancel_owned_job(session, services, job_id, owner=owner) for job_id in active]
    return sum(outcome in ("canceled", "cancel_requested") for outcome in outcomes)
