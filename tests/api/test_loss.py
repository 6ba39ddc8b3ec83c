"""GET /api/v1/jobs/<id>/loss and the job's `loss` field: the series the worker
wrote (db.jobs.record_reports), one point per step with the latest attempt's value,
only for the job's owner."""

import uuid

from db import jobs
from db.jobs import retry_job
from db.models import Job


def training_job(session, owner: str) -> Job:
    job = jobs.create_job(
        session,
        owner=owner,
        kind="finetune",
        model="tiny-sd",
        params={"dataset_id": str(uuid.uuid4()), "instance_prompt": "sks", "max_train_steps": 6, "seed": 1},
    )
    session.commit()
    return job


def run_attempt(session, job: Job, losses: list[tuple[int, float]]) -> int:
    """Claim the job and record its losses as a worker's progress writes would."""
    attempt = jobs.claim_job(session, job.id, worker_id="test-worker").attempt
    for start in range(0, len(losses), 2):
        points = losses[start : start + 2]
        jobs.record_reports(session, job.id, attempt, progress=(points[-1][0], 6))
        assert jobs.record_reports(session, job.id, attempt, losses=points)
    session.commit()
    return attempt


def test_the_series_has_one_point_per_step_with_the_latest_attempts_value(client, session, owner):
    job = training_job(session, owner)
    first = run_attempt(session, job, [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)])
    # The attempt died after step 4 with its checkpoint at step 2; the next one resumes at 3.
    retry_job(session, job.id, first, code="worker_lost", message="lost", delay_seconds=0)
    session.commit()
    run_attempt(session, job, [(3, 0.65), (4, 0.55), (5, 0.5), (6, 0.45)])

    response = client.get(f"/api/v1/jobs/{job.id}/loss")

    assert response.status_code == 200
    assert response.json == {"points": [[1, 0.9], [2, 0.8], [3, 0.65], [4, 0.55], [5, 0.5], [6, 0.45]]}
    assert client.get(f"/api/v1/jobs/{job.id}").json["loss"] == {"step": 6, "value": 0.45}


def test_a_diverged_loss_is_null_not_an_error(client, session, owner):
    job = training_job(session, owner)
    run_attempt(session, job, [(1, 0.9), (2, float("nan")), (3, float("inf"))])

    assert client.get(f"/api/v1/jobs/{job.id}/loss").json == {"points": [[1, 0.9], [2, None], [3, None]]}


def test_an_attempt_that_lost_the_job_writes_no_loss(client, session, owner):
    job = training_job(session, owner)
    first = run_attempt(session, job, [(1, 0.9)])
    retry_job(session, job.id, first, code="worker_lost", message="lost", delay_seconds=0)
    session.commit()

    assert not jobs.record_reports(session, job.id, first, losses=[(2, 0.1)])
    assert client.get(f"/api/v1/jobs/{job.id}/loss").json == {"points": [[1, 0.9]]}


def test_a_job_without_losses_has_an_empty_series(client, make_job):
    job = make_job("succeeded")

    assert client.get(f"/api/v1/jobs/{job.id}/loss").json == {"points": []}
    assert client.get(f"/api/v1/jobs/{job.id}").json["loss"] is None


def test_another_owners_loss_is_not_found(client_for, session):
    job = training_job(session, "alice")
    run_attempt(session, job, [(1, 0.9)])

    response = client_for("mallory").get(f"/api/v1/jobs/{job.id}/loss")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
