"""The job state machine on real Postgres: each transition happens once, and a
worker's writes only land while its attempt still owns the job."""

import uuid

from db import jobs
from db.eta import job_position


def queued_job(session, **overrides):
    job = jobs.create_job(
        session,
        owner=overrides.get("owner", jobs.LOCAL_OWNER),
        kind="generate",
        model="tiny-sd",
        params={"prompt": "a lighthouse", "seed": 1},
    )
    session.commit()
    return job


def artifact(index: int) -> jobs.NewArtifact:
    return jobs.NewArtifact(
        index=index,
        kind="image",
        storage_key=f"k/{index}",
        content_type="image/png",
        bytes=10,
        sha256="0" * 64,
        width=64,
        height=64,
        seed=index,
    )


def test_a_job_is_claimed_once(session):
    job = queued_job(session)
    first = jobs.claim_job(session, job.id, worker_id="w1")
    second = jobs.claim_job(session, job.id, worker_id="w2")
    session.commit()
    assert first is not None and first.status == "running" and first.attempt == 1
    assert first.lease_owner == "w1" and first.started_at is not None
    assert second is None


def test_claiming_an_unknown_job_does_nothing(session):
    assert jobs.claim_job(session, uuid.uuid4(), worker_id="w1") is None


def test_finish_records_artifacts_and_success(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    assert jobs.record_reports(session, job.id, claimed.attempt, progress=(3, 5))
    assert jobs.finish_job(session, job.id, claimed.attempt, [artifact(0), artifact(1)])
    session.commit()
    session.expire_all()
    done = jobs.get_job(session, job.id, owner=jobs.LOCAL_OWNER)
    assert done.status == "succeeded" and done.finished_at is not None
    assert (done.progress_step, done.progress_total) == (5, 5)
    assert [a.index for a in done.artifacts] == [0, 1]


def test_a_stale_attempt_cannot_write(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    stale = claimed.attempt - 1
    assert not jobs.record_reports(session, job.id, stale, progress=(1, 5))
    assert not jobs.finish_job(session, job.id, stale, [artifact(0)])
    assert not jobs.fail_job(session, job.id, stale, code="x", message="y")
    session.commit()
    session.expire_all()
    assert jobs.get_job(session, job.id, owner=None).status == "running"


def test_a_finished_job_cannot_fail_or_finish_again(session):
    job = queued_job(session)
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    assert jobs.fail_job(session, job.id, claimed.attempt, code="execution_error", message="boom")
    assert not jobs.finish_job(session, job.id, claimed.attempt, [artifact(0)])
    session.commit()
    session.expire_all()
    failed = jobs.get_job(session, job.id, owner=None)
    assert (failed.status, failed.error_code, failed.artifacts) == ("failed", "execution_error", [])


def test_another_owner_does_not_see_the_job(session):
    job = queued_job(session)
    assert jobs.get_job(session, job.id, owner="someone-else") is None
    assert jobs.list_jobs(session, owner="someone-else") == []


def test_queue_position_counts_the_jobs_ahead(session):
    first, second, third = (queued_job(session) for _ in range(3))
    assert [job_position(session, job).queue_position for job in (first, second, third)] == [0, 1, 2]
    jobs.claim_job(session, first.id, worker_id="w1")
    session.commit()
    session.expire_all()
    first = jobs.get_job(session, first.id, owner=None)
    assert job_position(session, first).queue_position == 0
    assert job_position(session, third).queue_position == 1
