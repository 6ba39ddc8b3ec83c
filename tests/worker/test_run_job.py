"""The run_job task against real Postgres and S3 (moto), called in-process without a
broker: a queued job ends succeeded with its images in the bucket, a duplicate
message does nothing, and failures are recorded with a code and no traceback."""

import hashlib
import io
import shutil
import uuid

from PIL import Image
from sqlalchemy import func, select, update

from db.events import FROM_START, events_after
from db.jobs import LOCAL_OWNER, create_job, get_job
from db.kinds.generate import GenerateSpec
from db.losses import loss_series
from db.models import Artifact, Job
from db.storage import make_storage
from tests.worker.conftest import TINY_MODEL
from worker.executors import ArtifactOutput
from worker.runner import JobRunner


def submit(sessions, *, model=TINY_MODEL, kind="generate", max_attempts=None, **params) -> uuid.UUID:
    params = GenerateSpec(**{"prompt": "a small boat", "steps": 3, **params}).model_dump(mode="json")
    with sessions.begin() as session:
        return create_job(
            session, owner=LOCAL_OWNER, kind=kind, model=model, params=params, max_attempts=max_attempts
        ).id


def load(sessions, job_id) -> Job:
    with sessions() as session:
        return get_job(session, job_id, owner=None)


def test_a_queued_job_succeeds_with_its_images_in_the_bucket(settings, sessions, run_job_task):
    job_id = submit(sessions, num_images=2, width=72, height=64, seed=10)

    assert run_job_task(str(job_id)) == "succeeded"

    job = load(sessions, job_id)
    assert job.status == "succeeded" and job.attempt == 1
    assert job.error_code is None and job.finished_at is not None
    assert job.progress_step == job.progress_total == 3
    storage = make_storage(settings)
    assert [artifact.storage_key for artifact in job.artifacts] == [
        f"jobs/{job_id}/1/0.png",
        f"jobs/{job_id}/1/1.png",
    ]
    for index, artifact in enumerate(job.artifacts):
        data = storage.get(artifact.storage_key)
        assert len(data) == artifact.bytes
        assert hashlib.sha256(data).hexdigest() == artifact.sha256
        assert (artifact.kind, artifact.content_type) == ("image", "image/png")
        assert (artifact.width, artifact.height, artifact.seed) == (72, 64, 10 + index)
        assert Image.open(io.BytesIO(data)).size == (72, 64)


def test_a_second_delivery_of_the_message_runs_nothing(sessions, run_job_task):
    job_id = submit(sessions)

    assert run_job_task(str(job_id)) == "succeeded"
    assert run_job_task(str(job_id)) is None

    pipelines = run_job_task.runner.pipelines.stats
    assert pipelines.loads + pipelines.hits == 1  # the pipeline was asked for once
    with sessions() as session:
        artifacts = session.scalar(select(func.count()).select_from(Artifact).where(Artifact.job_id == job_id))
    assert artifacts == 1
    assert load(sessions, job_id).attempt == 1


def test_the_next_job_on_the_same_worker_reuses_the_loaded_pipeline(sessions, run_job_task):
    for seed in (1, 2):
        run_job_task(str(submit(sessions, seed=seed)))

    stats = run_job_task.runner.pipelines.stats
    assert (stats.loads, stats.hits) == (1, 1)


def test_an_unknown_model_fails_with_a_clear_code_and_no_traceback(sessions, run_job_task):
    job_id = submit(sessions, model="no-such-model")

    assert run_job_task(str(job_id)) == "failed"

    job = load(sessions, job_id)
    assert job.status == "failed" and job.finished_at is not None
    assert job.error_code == "model_not_found"
    assert "no-such-model" in job.error_message
    assert "Traceback" not in job.error_message and "\n" not in job.error_message
    assert job.artifacts == []


def test_params_that_no_longer_validate_fail_with_invalid_params(sessions, run_job_task):
    with sessions.begin() as session:
        job_id = create_job(session, owner=LOCAL_OWNER, kind="generate", model=TINY_MODEL, params={"prompt": ""}).id

    assert run_job_task(str(job_id)) == "failed"

    job = load(sessions, job_id)
    assert job.error_code == "invalid_params" and "prompt" in job.error_message


def test_a_kind_without_an_executor_fails_with_unsupported_kind(sessions, run_job_task):
    # A row of a kind no module of this worker defines (upscale, which this test named
    # before, is a built-in kind now).
    job_id = submit(sessions, kind="colorize")

    run_job_task(str(job_id))

    assert load(sessions, job_id).error_code == "unsupported_kind"


def test_a_broken_model_is_retried_then_fails_with_model_load_failed(settings, sessions, models_dir, tmp_path):
    shutil.copytree(models_dir / TINY_MODEL, tmp_path / "broken")
    (tmp_path / "broken" / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    runner = JobRunner(settings.model_copy(update={"models_dir": tmp_path, "retry_backoff_seconds": 0}))
    job_id = submit(sessions, model="broken", max_attempts=2)

    # Another worker might hold a good copy of the model: the first attempt is retried.
    assert runner.run(job_id) == "retrying"
    assert load(sessions, job_id).status == "queued"
    assert runner.run(job_id) == "failed"

    job = load(sessions, job_id)
    assert job.attempt == 2 and job.error_code == "model_load_failed"
    assert "broken" in job.error_message and "Traceback" not in job.error_message


def test_a_job_canceled_while_running_keeps_no_results(settings, sessions):
    job_id = submit(sessions)

    def executor_that_sees_its_job_canceled(job, context):
        # What a cancel of a running job does to the row, while the executor works.
        with sessions.begin() as session:
            session.execute(update(Job).where(Job.id == job.id).values(status="canceled"))
        return [ArtifactOutput(index=0, kind="image", content_type="image/png", extension="png", data=b"x")]

    runner = JobRunner(settings, executors={"generate": executor_that_sees_its_job_canceled})

    assert runner.run(job_id) is None

    job = load(sessions, job_id)
    assert job.status == "canceled" and job.artifacts == []


def test_an_unexpected_error_on_the_last_attempt_fails_with_execution_error_on_one_line(settings, sessions):
    job_id = submit(sessions, max_attempts=1)

    def crashing_executor(job, context):
        context.report_progress(1, 3)
        raise RuntimeError("shapes differ:\n  [2, 4] vs [2, 8]")

    assert JobRunner(settings, executors={"generate": crashing_executor}).run(job_id) == "failed"

    job = load(sessions, job_id)
    assert job.error_code == "execution_error"
    assert job.error_message == "RuntimeError: shapes differ: [2, 4] vs [2, 8]"


def test_losses_reported_after_the_last_progress_write_are_written_before_the_results(settings, sessions):
    job_id = submit(sessions)

    def executor_that_ends_between_progress_writes(job, context):
        for step in range(1, 6):
            context.report_loss(step, 1.0 / step)
            context.report_progress(step, 10)  # only step 1 is written: the interval is an hour
        return [ArtifactOutput(index=0, kind="image", content_type="image/png", extension="png", data=b"x")]

    slow_writes = settings.model_copy(update={"progress_interval_seconds": 3600})
    runner = JobRunner(slow_writes, executors={"generate": executor_that_ends_between_progress_writes})

    assert runner.run(job_id) == "succeeded"
    with sessions() as session:
        assert [step for step, _loss in loss_series(session, job_id)] == [1, 2, 3, 4, 5]


def test_a_job_that_ends_between_progress_writes_streams_its_complete_progress(settings, sessions):
    job_id = submit(sessions)

    def executor_that_ends_between_progress_writes(job, context):
        for step in range(1, 26):
            context.report_progress(step, 25)  # only step 1 is written: the interval is an hour
        return [ArtifactOutput(index=0, kind="image", content_type="image/png", extension="png", data=b"x")]

    slow_writes = settings.model_copy(update={"progress_interval_seconds": 3600})
    runner = JobRunner(slow_writes, executors={"generate": executor_that_ends_between_progress_writes})

    assert runner.run(job_id) == "succeeded"
    with sessions() as session:
        progress = [event.data for event in events_after(session, job_id, FROM_START) if event.type == "progress"]
    # What the job page and every stream watcher sees last: 25 of 25, not 1 of 25.
    assert progress[-1] == {"step": 25, "total": 25}
