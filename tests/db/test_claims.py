"""The claim policy and leases (db/claims.py) on real Postgres, and the policy on
SQLite too: owners take turns, then priority, then age; concurrent claimers never
share a job; a job whose lease ran out goes back to the queue, or fails
`worker_lost` once its attempts are used up."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from db import jobs
from db.claims import claim_next_jobs, wake_up_kinds
from db.events import events_after
from db.jobs import recover_expired_leases, renew_lease, retry_job
from db.kinds.generate import GENERATE_QUEUE
from db.models import Job, utcnow
from tests.db.conftest import assert_claimed_once_each

LEASE = 30.0
TIME_LIMITS = {"generate": 3600}


def add_jobs(sessions, owner: str, count: int = 1, *, priority: int = 0, kind: str = "generate") -> list[uuid.UUID]:
    with sessions.begin() as session:
        return [
            jobs.create_job(
                session,
                owner=owner,
                kind=kind,
                model="tiny-sd",
                params={"prompt": f"{owner} {n}"},
                priority=priority,
            ).id
            for n in range(count)
        ]


def claim(sessions, worker_id: str = "w1", limit: int = 1) -> list[Job]:
    with sessions.begin() as session:
        return claim_next_jobs(session, kinds=["generate"], worker_id=worker_id, lease_seconds=LEASE, limit=limit)


def claim_one(sessions, worker_id: str = "w1") -> Job | None:
    claimed = claim(sessions, worker_id)
    return claimed[0] if claimed else None


def finish(sessions, job: Job) -> None:
    with sessions.begin() as session:
        assert jobs.finish_job(session, job.id, job.attempt, [])


def load(sessions, job_id: uuid.UUID) -> Job:
    with sessions() as session:
        return jobs.get_job(session, job_id, owner=None)


def test_one_job_of_another_owner_is_claimed_within_two_claims_behind_fifty(sessions):
    add_jobs(sessions, "alice", 50)
    [bobs] = add_jobs(sessions, "bob")

    first, second = claim_one(sessions), claim_one(sessions)

    assert bobs in {first.id, second.id}


def test_owners_take_turns_when_each_job_ends_before_the_next_claim(sessions):
    add_jobs(sessions, "alice", 5)
    add_jobs(sessions, "bob", 2)

    owners = []
    for _ in range(7):
        job = claim_one(sessions)
        owners.append(job.owner)
        finish(sessions, job)

    assert owners == ["alice", "bob", "alice", "bob", "alice", "alice", "alice"]


def test_within_an_owner_higher_priority_first_then_older_first(sessions):
    low_old, low_new = add_jobs(sessions, "alice", 2, priority=0)
    [high] = add_jobs(sessions, "alice", priority=5)

    assert [claim_one(sessions).id for _ in range(3)] == [high, low_old, low_new]


def test_a_claim_takes_a_lease_and_counts_the_attempt(sessions):
    [job_id] = add_jobs(sessions, "alice")

    before = utcnow()
    job = claim_one(sessions, "host:123")

    assert (job.id, job.status, job.attempt, job.lease_owner) == (job_id, "running", 1, "host:123")
    assert before + timedelta(seconds=LEASE - 1) < job.lease_expires_at <= utcnow() + timedelta(seconds=LEASE)
    assert job.started_at >= before
    assert claim_one(sessions) is None


def test_a_wake_up_claims_only_kinds_of_its_queue(sessions):
    [other_kind] = add_jobs(sessions, "alice", kind="upscale")

    assert claim_one(sessions) is None
    with sessions() as session:
        assert wake_up_kinds(session, GENERATE_QUEUE, other_kind) == ["generate"]
        # Without a queue (called outside the broker), the kind of the job it names.
        assert wake_up_kinds(session, None, other_kind) == ["upscale"]
        assert wake_up_kinds(session, None, uuid.uuid4()) == []


def test_several_jobs_can_be_claimed_at_once(sessions):
    add_jobs(sessions, "alice", 3)
    add_jobs(sessions, "bob", 1)

    batch = claim(sessions, limit=3)

    assert len({job.id for job in batch}) == 3 and {job.owner for job in batch} == {"alice", "bob"}
    assert all(job.status == "running" and job.attempt == 1 for job in batch)


@pytest.mark.parametrize("sessions", ["postgres"], indirect=True)  # threads against row locks
def test_concurrent_claimers_never_get_the_same_job(sessions):
    all_ids = set(add_jobs(sessions, "alice", 30) + add_jobs(sessions, "bob", 30))
    assert_claimed_once_each(
        sessions, all_ids, lambda worker: [job.id for job in claim(sessions, worker_id=worker, limit=2)]
    )


def test_the_heartbeat_extends_the_lease_only_for_the_attempt_holding_it(sessions):
    add_jobs(sessions, "alice")
    job = claim_one(sessions)

    with sessions.begin() as session:
        assert renew_lease(session, job.id, job.attempt, lease_seconds=LEASE * 10)
        assert not renew_lease(session, job.id, job.attempt - 1, lease_seconds=LEASE * 10)
    assert load(sessions, job.id).lease_expires_at > utcnow() + timedelta(seconds=LEASE * 9)


def expire_lease(sessions, job_id: uuid.UUID) -> None:
    """What time does to a lease nobody renews."""
    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))


def test_a_job_whose_lease_ran_out_is_queued_again_and_its_next_claim_is_a_new_attempt(sessions):
    add_jobs(sessions, "alice")
    lost = claim_one(sessions, "dead-worker")
    [still_held] = [claim_one(sessions, "live-worker") for _ in add_jobs(sessions, "bob")]
    expire_lease(sessions, lost.id)

    with sessions.begin() as session:
        assert recover_expired_leases(session, time_limits=TIME_LIMITS) == [lost.id]

    job = load(sessions, lost.id)
    assert (job.status, job.attempt, job.lease_owner, job.lease_expires_at, job.enqueued_at) == (
        "queued",
        1,
        None,
        None,
        None,
    )
    assert load(sessions, still_held.id).status == "running"
    again = claim_one(sessions, "live-worker")
    assert (again.id, again.attempt) == (lost.id, 2)
    # The stale attempt can write nothing any more.
    with sessions.begin() as session:
        assert not jobs.finish_job(session, lost.id, lost.attempt, [])
        assert not renew_lease(session, lost.id, lost.attempt, lease_seconds=LEASE)


def test_a_job_that_loses_its_worker_on_every_attempt_fails_worker_lost(sessions):
    [job_id] = add_jobs(sessions, "alice")
    for attempt in (1, 2, 3):
        assert claim_one(sessions).attempt == attempt
        expire_lease(sessions, job_id)
        with sessions.begin() as session:
            recover_expired_leases(session, time_limits=TIME_LIMITS)

    job = load(sessions, job_id)
    assert (job.status, job.error_code, job.attempt) == ("failed", "worker_lost", 3)
    assert job.finished_at is not None
    with sessions() as session:
        last = [(event.type, event.data) for event in events_after(session, job_id, 0)][-2:]
    assert last[0][0] == "status" and last[0][1]["error"]["code"] == "worker_lost"
    assert last[1] == ("done", {"status": "failed"})


def test_a_job_whose_worker_was_stopped_by_the_time_limit_fails_time_limit(sessions):
    [job_id] = add_jobs(sessions, "alice")
    claim_one(sessions)
    expire_lease(sessions, job_id)
    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(started_at=utcnow() - timedelta(hours=2)))

    with sessions.begin() as session:
        assert recover_expired_leases(session, time_limits=TIME_LIMITS) == []

    job = load(sessions, job_id)
    assert (job.status, job.error_code, job.attempt) == ("failed", "time_limit", 1)


def test_a_job_canceled_while_its_worker_was_lost_ends_canceled(sessions):
    [job_id] = add_jobs(sessions, "alice")
    claim_one(sessions)
    with sessions.begin() as session:
        assert jobs.cancel_job(session, job_id, owner="alice") == "cancel_requested"
    expire_lease(sessions, job_id)

    with sessions.begin() as session:
        assert recover_expired_leases(session, time_limits=TIME_LIMITS) == []

    assert load(sessions, job_id).status == "canceled"


def test_a_retried_job_waits_out_its_backoff_and_keeps_the_failure_in_its_events(sessions):
    [job_id] = add_jobs(sessions, "alice")
    job = claim_one(sessions)

    with sessions.begin() as session:
        status = retry_job(
            session, job_id, job.attempt, code="storage_unavailable", message="S3 did not answer", delay_seconds=3600
        )

    assert status == "queued"
    retried = load(sessions, job_id)
    assert retried.status == "queued" and retried.retry_at > utcnow() + timedelta(minutes=59)
    assert retried.error_code is None
    assert claim_one(sessions) is None
    with sessions() as session:
        last = events_after(session, job_id, 0)[-1]
    assert last.data["status"] == "queued" and last.data["error"]["code"] == "storage_unavailable"

    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(retry_at=utcnow() - timedelta(seconds=1)))
    assert claim_one(sessions).attempt == 2
