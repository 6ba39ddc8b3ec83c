"""The runner's metrics, in process: each attempt counted by how it ended and
its failure code, the steps and images of a succeeded job; a draining worker
claims nothing, and its job past the grace is put back (its attempt given back)
and counted `released`."""

import uuid

from db.jobs import LOCAL_OWNER, create_job, get_job
from db.kinds.generate import GenerateSpec
from tests.worker.conftest import TINY_MODEL
from worker.draining import Drain
from worker.metrics import worker_metrics
from worker.runner import JobRunner


def submit(sessions, *, model=TINY_MODEL, **params) -> uuid.UUID:
    params = GenerateSpec(**{"prompt": "a small boat", "steps": 3, **params}).model_dump(mode="json")
    with sessions.begin() as session:
        return create_job(session, owner=LOCAL_OWNER, kind="generate", model=model, params=params, max_attempts=1).id


def sample(name: str, labels: dict[str, str]) -> float:
    return worker_metrics().registry.get_sample_value(name, labels) or 0.0


def test_attempts_are_counted_by_outcome_and_failure_code_with_their_steps_and_images(settings, sessions):
    runner = JobRunner(settings)
    succeeded = {"kind": "generate", "outcome": "succeeded", "code": ""}
    not_found = {"kind": "generate", "outcome": "failed", "code": "model_not_found"}
    images = {"kind": "generate", "model": TINY_MODEL, "artifact_kind": "image"}
    steps = {"kind": "generate", "model": TINY_MODEL}
    before = {
        "succeeded": sample("genq_worker_jobs_total", succeeded),
        "not_found": sample("genq_worker_jobs_total", not_found),
        "images": sample("genq_worker_artifacts_total", images),
        "steps": sample("genq_worker_steps_total", steps),
        "durations": sample("genq_worker_job_duration_seconds_count", steps),
    }

    good = submit(sessions, num_images=2, width=64, height=64, steps=4)
    assert runner.run(good) == "succeeded"
    bad = submit(sessions, model="no-such-model")
    assert runner.run(bad) == "failed"

    assert sample("genq_worker_jobs_total", succeeded) == before["succeeded"] + 1
    assert sample("genq_worker_jobs_total", not_found) == before["not_found"] + 1
    assert sample("genq_worker_artifacts_total", images) == before["images"] + 2
    # Counted from the attempt's first report on: steps 2 to 4 of 4.
    assert sample("genq_worker_steps_total", steps) == before["steps"] + 3
    assert sample("genq_worker_job_duration_seconds_count", steps) == before["durations"] + 1


def test_a_draining_worker_claims_nothing(settings, sessions):
    drain = Drain()
    runner = JobRunner(settings, drain=drain)
    job_id = submit(sessions, width=64, height=64)

    drain.begin(grace_seconds=60)

    assert runner.run(job_id) is None
    with sessions() as session:
        job = get_job(session, job_id, owner=None)
        assert (job.status, job.attempt) == ("queued", 0)


def test_a_job_running_past_the_drain_grace_is_put_back_at_its_next_step_and_counted_released(settings, sessions):
    drain = Drain()

    def stopped_while_running(job, context):
        context.report_progress(1, 3)
        drain.begin(grace_seconds=0)  # SIGTERM, and no time left
        context.report_progress(2, 3)
        raise AssertionError("the step after the deadline must not return")

    runner = JobRunner(settings, executors={"generate": stopped_while_running}, drain=drain)
    released = {"kind": "generate", "outcome": "released", "code": ""}
    before = sample("genq_worker_jobs_total", released)
    job_id = submit(sessions, width=64, height=64)

    assert runner.run(job_id) == "released"

    with sessions() as session:
        job = get_job(session, job_id, owner=None)
        # Queued again with no trace of the attempt but its events; the attempt is given back.
        assert (job.status, job.attempt, job.max_attempts, job.artifacts) == ("queued", 1, 2, [])
        assert job.lease_owner is None
    assert sample("genq_worker_jobs_total", released) == before + 1
