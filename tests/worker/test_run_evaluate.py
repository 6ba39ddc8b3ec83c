"""Scoring and evaluating through the run_job task against real Postgres and S3
(moto): a generate job asked to score records each image's clip_score, without a
second pipeline load; an evaluate job of its images ends succeeded with the same
scores in its `result` and a JSON report in the bucket."""

import json
import uuid

import pytest

from db.job_json import job_json, local_artifact_path
from db.jobs import LOCAL_OWNER, create_job, get_job
from db.kinds.evaluate import EvaluateSpec
from db.kinds.generate import GenerateSpec
from db.models import Job
from db.storage import make_storage
from tests.worker.conftest import TINY_MODEL


def submit(sessions, kind: str, model: str, params: dict) -> uuid.UUID:
    with sessions.begin() as session:
        return create_job(session, owner=LOCAL_OWNER, kind=kind, model=model, params=params).id


def load(sessions, job_id) -> Job:
    with sessions() as session:
        return get_job(session, job_id, owner=None)


def test_a_scored_generate_job_then_its_evaluation(settings, sessions, run_job_task):
    params = GenerateSpec(prompt="a small boat", steps=2, num_images=2, score=True).model_dump(mode="json")
    generated = submit(sessions, "generate", TINY_MODEL, params)

    assert run_job_task(str(generated)) == "succeeded"

    scores = [artifact.clip_score for artifact in load(sessions, generated).artifacts]
    assert all(isinstance(score, float) and score >= 0 for score in scores)
    runner = run_job_task.runner
    assert runner.pipelines.stats.loads == 1 and runner.clip_models.stats.loads == 1

    evaluation_params = EvaluateSpec.model_validate({"images": {"job_ids": [str(generated)]}}).model_dump(mode="json")
    evaluation = submit(sessions, "evaluate", "tiny-clip", evaluation_params)

    assert run_job_task(str(evaluation)) == "succeeded"

    job = load(sessions, evaluation)
    assert job.result["clip_score"]["per_image"] == pytest.approx(scores, abs=1e-4)
    assert (job.result["n_images"], job.result["n_reference"]) == (2, 0)
    assert job.progress_step == job.progress_total == 2
    assert runner.clip_models.stats.loads == 1  # the scorer stayed in the worker's cache
    [report] = job.artifacts
    assert (report.kind, report.content_type) == ("report", "application/json")
    stored = json.loads(make_storage(settings).get(report.storage_key))
    assert stored["result"] == job.result
    with sessions() as session:
        described = job_json(session, get_job(session, evaluation, owner=LOCAL_OWNER), local_artifact_path)
        generated_json = job_json(session, get_job(session, generated, owner=LOCAL_OWNER), local_artifact_path)
    assert described["result"] == job.result
    assert [artifact["clip_score"] for artifact in generated_json["artifacts"]] == scores
    assert generated_json["result"] is None
