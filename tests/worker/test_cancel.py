"""Cancelling a running job, with the runner in this process on the tiny model, real
Postgres, Redis and S3: the per-step check stops the run long before its next
progress write would, and nothing it made is kept."""

import boto3

from db.jobs import LOCAL_OWNER, create_job, get_job
from db.kinds.generate import GenerateSpec
from db.session import make_session_factory
from tests.worker.cancels import run_and_cancel
from tests.worker.conftest import TINY_MODEL
from worker.runner import JobRunner


def test_the_per_step_check_stops_a_run_between_progress_writes(settings, s3_endpoint):
    # One progress write an hour: only the per-step check (Redis) can stop it early.
    settings = settings.model_copy(update={"progress_interval_seconds": 3600})
    sessions = make_session_factory(settings.database_url)
    params = GenerateSpec(prompt="a long walk", steps=150, width=64, height=64, seed=3).model_dump(mode="json")
    with sessions.begin() as session:
        job_id = create_job(session, owner=LOCAL_OWNER, kind="generate", model=TINY_MODEL, params=params).id
    outcome = run_and_cancel(settings, JobRunner(settings), job_id)

    assert outcome == ["canceled"]
    with sessions() as session:
        job = get_job(session, job_id, owner=None)
    assert job.status == "canceled" and job.artifacts == []
    # The row's flag is read only at progress writes, here none before an hour has
    # passed: stopping before the last step was the per-step check's doing.
    assert 1 <= job.progress_step < 150
    objects = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=settings.storage_url.removeprefix("s3://"), Prefix=f"jobs/{job_id}/"
    )
    assert objects["KeyCount"] == 0
    sessions.kw["bind"].dispose()
