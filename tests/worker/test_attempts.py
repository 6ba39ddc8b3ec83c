"""A job's attempts on a worker, in process against real Postgres and S3 (moto):
the heartbeat keeps the lease through a long step, an attempt that lost its lease
stores nothing, failures that may pass are retried after a backoff, the job's own
faults fail at once, and a storage outage is ridden out in place."""

import time
import uuid

import pytest
import torch
from botocore.exceptions import EndpointConnectionError
from celery.exceptions import SoftTimeLimitExceeded

from db.claims import claim_next_jobs
from db.jobs import LOCAL_OWNER, create_job, get_job, recover_expired_leases
from db.models import Job
from db.storage import ObjectNotFound, artifact_key
from tests.support.waiting import wait_for
from worker.executors import ArtifactOutput
from worker.runner import JobRunner

TIME_LIMITS = {"generate": 3600}
PNG = ArtifactOutput(index=0, kind="image", content_type="image/png", extension="png", data=b"\x89PNG made")


@pytest.fixture
def quick_settings(settings):
    return settings.model_copy(update={"lease_seconds": 1.0, "heartbeat_seconds": 0.2, "retry_backoff_seconds": 0.3})


def submit(sessions, max_attempts: int = 3) -> uuid.UUID:
    with sessions.begin() as session:
        return create_job(
            session,
            owner=LOCAL_OWNER,
            kind="generate",
            model="tiny-sd",
            params={"prompt": "x"},
            max_attempts=max_attempts,
        ).id


def load(sessions, job_id) -> Job:
    with sessions() as session:
        return get_job(session, job_id, owner=None)


def test_the_heartbeat_keeps_the_lease_through_a_step_longer_than_the_lease(quick_settings, sessions):
    job_id = submit(sessions)
    put_back_meanwhile = []

    def slow_executor(job, context):
        time.sleep(2.5)  # one long step: model loading, say; no progress reported
        with sessions.begin() as session:
            put_back_meanwhile.extend(recover_expired_leases(session, time_limits=TIME_LIMITS))
        return [PNG]

    assert JobRunner(quick_settings, executors={"generate": slow_executor}).run(job_id) == "succeeded"

    assert put_back_meanwhile == []
    assert load(sessions, job_id).attempt == 1


def test_an_attempt_that_lost_its_lease_records_nothing_and_cannot_touch_the_next_attempts_objects(
    quick_settings, sessions
):
    job_id = submit(sessions)

    def executor_paused_past_its_lease(job, context):
        # While this attempt was paused, its lease ran out and another worker took over.
        with sessions.begin() as session:
            session.get(Job, job.id).lease_expires_at = session.get(Job, job.id).started_at
        with sessions.begin() as session:
            assert recover_expired_leases(session, time_limits=TIME_LIMITS) == [job.id]
            claim_next_jobs(session, kinds=["generate"], worker_id="the-other-worker", lease_seconds=30)
        return [PNG]

    runner = JobRunner(quick_settings, executors={"generate": executor_paused_past_its_lease})
    assert runner.run(job_id) is None

    job = load(sessions, job_id)
    assert (job.status, job.attempt, job.lease_owner) == ("running", 2, "the-other-worker")
    assert job.artifacts == []
    # What the late attempt stored went under its own key, never the next attempt's.
    with pytest.raises(ObjectNotFound):
        runner.storage.get(artifact_key(job_id, 2, 0, "png"))


def test_a_failure_that_may_pass_is_retried_after_a_backoff(quick_settings, sessions):
    job_id = submit(sessions)
    calls = []

    def fails_once(job, context):
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return [PNG]

    runner = JobRunner(quick_settings, executors={"generate": fails_once})
    assert runner.run(job_id) == "retrying"
    assert load(sessions, job_id).status == "queued"

    wait_for(lambda: runner.run(job_id) == "succeeded", timeout=10, what="the retry to run")

    job = load(sessions, job_id)
    assert (job.status, job.attempt, job.error_code) == ("succeeded", 2, None)
    assert calls[1] - calls[0] >= quick_settings.retry_backoff_seconds


def test_when_a_job_ends_the_objects_of_its_other_attempts_are_deleted(quick_settings, sessions):
    job_id = submit(sessions)
    runner = JobRunner(quick_settings, executors={"generate": fails_once_then_makes_a_png()})
    # What the first attempt stored before it failed (a storage error at its second image, say).
    left_behind = artifact_key(job_id, 1, 0, "png")
    runner.storage.put(left_behind, b"part of attempt 1", "image/png")

    assert runner.run(job_id) == "retrying"
    wait_for(lambda: runner.run(job_id) == "succeeded", timeout=10, what="the retry to run")

    [artifact] = load(sessions, job_id).artifacts
    assert artifact.storage_key == artifact_key(job_id, 2, 0, "png")
    assert runner.storage.get(artifact.storage_key) == PNG.data
    with pytest.raises(ObjectNotFound):
        runner.storage.get(left_behind)


def test_a_job_that_fails_for_good_leaves_no_objects(quick_settings, sessions):
    job_id = submit(sessions, max_attempts=1)
    runner = JobRunner(quick_settings, executors={"generate": fails_once_then_makes_a_png()})
    left_behind = artifact_key(job_id, 1, 0, "png")
    runner.storage.put(left_behind, b"part of attempt 1", "image/png")

    assert runner.run(job_id) == "failed"

    with pytest.raises(ObjectNotFound):
        runner.storage.get(left_behind)


def fails_once_then_makes_a_png():
    calls = []

    def executor(job, context):
        calls.append(job.id)
        if len(calls) == 1:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return [PNG]

    return executor


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"), "oom"),
        (SoftTimeLimitExceeded(), "time_limit"),
    ],
)
def test_the_jobs_own_faults_fail_at_once(quick_settings, sessions, error, code):
    job_id = submit(sessions)

    def faulty(job, context):
        raise error

    assert JobRunner(quick_settings, executors={"generate": faulty}).run(job_id) == "failed"

    job = load(sessions, job_id)
    assert (job.status, job.error_code, job.attempt) == ("failed", code, 1)


def test_a_job_failing_on_every_attempt_fails_with_the_last_reason(quick_settings, sessions):
    job_id = submit(sessions, max_attempts=2)

    def always_raises(job, context):
        raise ValueError("the VAE produced NaNs")

    runner = JobRunner(quick_settings, executors={"generate": always_raises})
    assert runner.run(job_id) == "retrying"
    wait_for(lambda: runner.run(job_id) == "failed", timeout=10, what="the last attempt")

    job = load(sessions, job_id)
    assert (job.attempt, job.error_code, job.error_message) == (
        2,
        "execution_error",
        "ValueError: the VAE produced NaNs",
    )


class StorageDownForAWhile:
    """Real storage behind a connection that fails the first `failures` uploads."""

    def __init__(self, storage, failures: int) -> None:
        self._storage = storage
        self.failures_left = failures

    def put(self, key, data, content_type):
        if self.failures_left:
            self.failures_left -= 1
            raise EndpointConnectionError(endpoint_url="http://storage.invalid")
        self._storage.put(key, data, content_type)


def test_a_storage_outage_during_the_upload_is_ridden_out_without_redoing_the_job(quick_settings, sessions):
    job_id = submit(sessions)
    runs = []

    def executor(job, context):
        runs.append(job.id)
        return [PNG]

    runner = JobRunner(quick_settings, executors={"generate": executor})
    runner.storage = StorageDownForAWhile(runner.storage, failures=2)

    assert runner.run(job_id) == "succeeded"

    assert runs == [job_id] and runner.storage.failures_left == 0
    assert load(sessions, job_id).attempt == 1
