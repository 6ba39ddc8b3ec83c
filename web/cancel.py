"""Cancelling a job, shared by the JSON API and the job page: one conditional
UPDATE, commit, then the Redis signal that stops a running job at its next step
(or, for a job canceled at once, its `canceled` webhook). Never stops a worker
any other way (no Celery revoke or terminate)."""

import uuid

from sqlalchemy.orm import Session

from db.cancellation import signal_cancel
from db.job_signals import publish_status
from db.jobs import CancelOutcome, cancel_job, get_job
from db.webhooks import announce
from web.context import Platform


def cancel_owned_job(session: Session, services: Platform, job_id: uuid.UUID, *, owner: str) -> CancelOutcome:
    outcome = cancel_job(session, job_id, owner=owner)
    session.commit()
    # After the commit: the worker may read the row as soon as it sees the key,
    # and a webhook receiver may read the job as soon as it is told.
    if outcome == "cancel_requested":
        signal_cancel(services.settings, job_id)
    elif outcome == "canceled":
        publish_status(services.settings, job_id, "canceled")
        announce(services.celery, get_job(session, job_id, owner=owner), "canceled")
    return outcome
