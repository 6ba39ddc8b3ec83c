"""Cross-job batching through the runner, in this process on the tiny model with real
Postgres, Redis and S3 (moto): one run() claims the compatible queued jobs and runs
them as one pipeline call; each job still ends with its own artifacts, seeds and
outcome, a job canceled mid-batch leaves it, and incompatible jobs wait their turn."""

import io
import threading
import time
import uuid

import boto3
import numpy as np
from PIL import Image

from db.cancellation import signal_cancel
from db.jobs import cancel_job, create_job, get_job
from db.kinds.generate import GenerateSpec
from db.models import Job
from db.storage import make_storage
from tests.support.waiting import wait_for
from tests.worker.conftest import TINY_MODEL
from tests.worker.contexts import LocalJobContext
from worker.executors import JobInput
from worker.executors.generate import run_generate
from worker.runner import JobRunner

# Batched and alone may round differently in the last bits (tests/worker/test_generate_batch.py).
TOLERANCE = 2


def submit(sessions, owner: str, *, model: str = TINY_MODEL, **params) -> uuid.UUID:
    spec = GenerateSpec(**{"prompt": f"a small boat of {owner}", "steps": 3, "width": 64, "height": 64, **params})
    with sessions.begin() as session:
        return create_job(session, owner=owner, kind="generate", model=model, params=spec.model_dump(mode="json")).id


def load(sessions, job_id: uuid.UUID) -> Job:
    with sessions() as session:
        return get_job(session, job_id, owner=None)


def pipeline_calls(runner: JobRunner) -> int:
    """Each pipeline call asks the cache for its pipeline once."""
    return runner.pipelines.stats.loads + runner.pipelines.stats.hits


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)


def test_compatible_queued_jobs_run_as_one_pipeline_call_each_with_its_own_images(settings, sessions):
    runner = JobRunner(settings.model_copy(update={"max_batch": 4}))
    job_ids = [
        submit(sessions, "alice", seed=1, negative_prompt="blurry"),
        submit(sessions, "bob", seed=2, num_images=2, negative_prompt="text"),
        submit(sessions, "carol", seed=3, prompt="a lighthouse", negative_prompt="fog"),
    ]

    assert runner.run(job_ids[0]) == "succeeded"

    assert pipeline_calls(runner) == 1
    storage = make_storage(settings)
    for job_id in job_ids:
        job = load(sessions, job_id)
        assert job.status == "succeeded" and job.progress_step == job.progress_total == 3
        assert [artifact.storage_key for artifact in job.artifacts] == [
            f"jobs/{job_id}/1/{index}.png" for index in range(job.params["num_images"])
        ]
        assert [artifact.seed for artifact in job.artifacts] == [
            job.params["seed"] + index for index in range(job.params["num_images"])
        ]
        # Each job's images are those it gets alone.
        alone = run_generate(JobInput(job.id, job.model, job.params), LocalJobContext(runner.pipelines))
        for artifact, solo in zip(job.artifacts, alone, strict=True):
            stored = storage.get(artifact.storage_key)
            assert np.abs(pixels(stored) - pixels(solo.encoded())).max() <= TOLERANCE
            assert Image.open(io.BytesIO(stored)).text["prompt"] == job.params["prompt"]


def test_a_batch_holds_at_most_max_batch_images(settings, sessions):
    runner = JobRunner(settings.model_copy(update={"max_batch": 2}))
    first, second, third = (submit(sessions, "alice", seed=seed) for seed in (1, 2, 3))

    assert runner.run(first) == "succeeded"

    assert [load(sessions, job_id).status for job_id in (first, second, third)] == ["succeeded", "succeeded", "queued"]
    assert pipeline_calls(runner) == 1


def test_incompatible_jobs_are_not_batched(settings, sessions):
    runner = JobRunner(settings.model_copy(update={"max_batch": 4}))
    first = submit(sessions, "alice", seed=1)
    more_steps = submit(sessions, "bob", seed=2, steps=4)
    alike = submit(sessions, "carol", seed=3)

    assert runner.run(first) == "succeeded"

    assert [load(sessions, job_id).status for job_id in (first, more_steps, alike)] == [
        "succeeded",
        "queued",
        "succeeded",
    ]
    assert runner.run(more_steps) == "succeeded"
    assert load(sessions, more_steps).progress_total == 4
    assert pipeline_calls(runner) == 2


def test_a_job_canceled_mid_batch_ends_canceled_and_the_others_succeed(settings, sessions, s3_endpoint):
    # One progress write an hour: the per-step check (Redis) stops the canceled job.
    runner = JobRunner(settings.model_copy(update={"max_batch": 3, "progress_interval_seconds": 3600}))
    job_ids = [submit(sessions, owner, seed=seed, steps=150) for seed, owner in enumerate(("alice", "bob", "carol"))]
    canceled_id = job_ids[1]
    outcome = []
    run = threading.Thread(target=lambda: outcome.append(runner.run(job_ids[0])))
    run.start()

    wait_for(lambda: load(sessions, canceled_id).status == "running", timeout=60, what="the claim")
    with sessions.begin() as session:
        assert cancel_job(session, canceled_id, owner="bob") == "cancel_requested"
    assert signal_cancel(settings, canceled_id)
    run.join(timeout=120)

    assert outcome == ["succeeded"]
    canceled = load(sessions, canceled_id)
    assert canceled.status == "canceled" and canceled.artifacts == []
    assert 1 <= canceled.progress_step < 150
    for job_id in (job_ids[0], job_ids[2]):
        job = load(sessions, job_id)
        assert job.status == "succeeded" and job.progress_step == 150 and len(job.artifacts) == 1
    objects = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=settings.storage_url.removeprefix("s3://"), Prefix=f"jobs/{canceled_id}/"
    )
    assert objects["KeyCount"] == 0
    assert pipeline_calls(runner) == 1


def test_a_failure_of_the_whole_call_is_recorded_for_every_job_of_the_batch(settings, sessions):
    runner = JobRunner(settings.model_copy(update={"max_batch": 4}))
    job_ids = [submit(sessions, owner, model="no-such-model", seed=1) for owner in ("alice", "bob")]

    assert runner.run(job_ids[0]) == "failed"

    for job_id in job_ids:
        job = load(sessions, job_id)
        assert (job.status, job.error_code, job.attempt) == ("failed", "model_not_found", 1)


def test_a_worker_waits_for_companions_while_some_are_queued_and_takes_those_that_arrive(
    settings, sessions, monkeypatch
):
    runner = JobRunner(settings.model_copy(update={"max_batch": 4, "batch_window_ms": 1000}))
    queued = [submit(sessions, "alice", seed=1), submit(sessions, "bob", seed=2)]
    arrived: list[uuid.UUID] = []
    real_sleep = time.sleep

    def sleep_and_see_more_arrive(seconds: float) -> None:
        if not arrived:  # two more users submit while the worker waits
            arrived.extend(submit(sessions, owner, seed=3) for owner in ("carol", "dave"))
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep_and_see_more_arrive)

    assert runner.run(queued[0]) == "succeeded"

    assert [load(sessions, job_id).status for job_id in queued + arrived] == ["succeeded"] * 4
    assert pipeline_calls(runner) == 1


def test_a_lone_job_never_waits(settings, sessions, monkeypatch):
    runner = JobRunner(settings.model_copy(update={"max_batch": 4, "batch_window_ms": 1000}))
    job_id = submit(sessions, "alice", seed=1)
    other_shape = submit(sessions, "bob", seed=2, steps=4)
    sleeps: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda seconds: sleeps.append(seconds) or real_sleep(seconds))

    assert runner.run(job_id) == "succeeded"

    assert sleeps == []
    assert load(sessions, other_shape).status == "queued"


def test_jobs_of_a_kind_given_an_executor_of_its_own_are_run_one_at_a_time_on_it(settings, sessions):
    ran: list[uuid.UUID] = []

    def own_executor(job: JobInput, context) -> list:
        ran.append(job.id)
        return []

    runner = JobRunner(settings.model_copy(update={"max_batch": 4}), executors={"generate": own_executor})
    first, second = submit(sessions, "alice", seed=1), submit(sessions, "bob", seed=2)

    assert runner.run(first) == "succeeded"

    assert ran == [first]
    assert load(sessions, second).status == "queued"
