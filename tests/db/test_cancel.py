"""Cancelling in the state machine, on real Postgres: a queued job is canceled at
once and can no longer be claimed; a running one is flagged for its worker, which
ends it; finished, unknown and other owners' jobs are left alone."""

import uuid

from db import jobs
from db.events import events_after
from tests.db.test_jobs import queued_job


def reload(session, job_id):
    session.expire_all()
    return jobs.get_job(session, job_id, owner=None)


def test_a_queued_job_is_canceled_at_once_and_never_claimed(session):
    job = queued_job(session)

    assert jobs.cancel_job(session, job.id, owner=jobs.LOCAL_OWNER) == "canceled"
    assert jobs.claim_job(session, job.id, worker_id="w1") is None
    session.commit()

    canceled = reload(session, job.id)
    assert (canceled.status, canceled.attempt, canceled.started_at) == ("canceled", 0, None)
    assert canceled.finished_at is not None
    assert [(event.type, event.data) for event in events_after(session, job.id, 0)][-2:] == [
        ("status", {"status": "canceled"}),
        ("done", {"status": "canceled"}),
    ]


def test_a_running_job_is_flagged_and_its_worker_ends_it(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    assert jobs.record_reports(session, job.id, claimed.attempt) == "running"
    session.commit()

    assert jobs.cancel_job(session, job.id, owner=jobs.LOCAL_OWNER) == "cancel_requested"
    session.commit()
    assert reload(session, job.id).status == "running"
    # What the worker's next write of its reports learns.
    assert jobs.record_reports(session, job.id, claimed.attempt) == "cancel_requested"

    assert not jobs.end_canceled_job(session, job.id, claimed.attempt - 1, step=3)
    assert jobs.end_canceled_job(session, job.id, claimed.attempt, step=3)
    session.commit()
    ended = reload(session, job.id)
    assert (ended.status, ended.progress_step, ended.artifacts) == ("canceled", 3, [])
    assert events_after(session, job.id, 0)[-1].data == {"status": "canceled"}


def test_finished_unknown_and_foreign_jobs_are_not_canceled(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    jobs.fail_job(session, job.id, claimed.attempt, code="x", message="y")
    other = queued_job(session)
    session.commit()

    assert jobs.cancel_job(session, job.id, owner=jobs.LOCAL_OWNER) == "finished"
    assert jobs.cancel_job(session, uuid.uuid4(), owner=jobs.LOCAL_OWNER) == "not_found"
    assert jobs.cancel_job(session, other.id, owner="someone-else") == "not_found"
    session.commit()
    assert reload(session, job.id).status == "failed"
    assert reload(session, other.id).status == "queued"
