"""Training survives its worker: a finetune job whose worker is SIGKILLed after a
checkpoint resumes on another worker from that checkpoint, and its loss series
has exactly one point per step. Training jobs go only to workers that take the
`finetune` queue."""

import io
import signal
import uuid

import pytest
from sqlalchemy import select

from db.events import LOSS
from db.losses import loss_series
from db.models import Adapter, JobEvent
from db.storage import ObjectNotFound
from tests.support.training import training_pngs
from tests.support.waiting import wait_for
from worker.job_context import checkpoint_key

pytestmark = pytest.mark.faults


def upload_dataset(cluster) -> str:
    files = [(io.BytesIO(png), f"{index}.png") for index, png in enumerate(training_pngs(4))]
    response = cluster.client.post("/api/v1/datasets", data={"files": files}, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["id"]


def submit_finetune(cluster, **params) -> uuid.UUID:
    body = {
        "kind": "finetune",
        "params": {
            "dataset_id": upload_dataset(cluster),
            "instance_prompt": "a photo of sks pattern",
            "resolution": 64,
            "batch_size": 1,
            "seed": 3,
            **params,
        },
    }
    response = cluster.client.post("/api/v1/jobs", json=body)
    assert response.status_code == 202, response.json
    return uuid.UUID(response.json["id"])


def checkpoint_step(cluster, job_id: uuid.UUID) -> int | None:
    try:
        return int.from_bytes(cluster.storage.get(checkpoint_key(job_id))[:8], "big")
    except ObjectNotFound:
        return None


def test_a_worker_killed_mid_training_resumes_from_its_checkpoint_on_another(cluster):
    steps = 300
    first = cluster.start_worker(queues="finetune")
    job_id = submit_finetune(cluster, max_train_steps=steps, checkpointing_steps=20)

    def past_a_checkpoint() -> bool:
        job = cluster.job(job_id)
        assert job.status in ("queued", "running"), "the job ended before the worker could be killed"
        return checkpoint_step(cluster, job_id) is not None and job.progress_step > 25

    wait_for(past_a_checkpoint, timeout=120, interval=0.1, what="training past its first checkpoint")
    first.signal_all(signal.SIGKILL)
    first.process.wait()
    resumed_from = checkpoint_step(cluster, job_id)
    cluster.start_worker(queues="finetune")

    [job] = cluster.wait_until_finished([job_id], timeout=300)

    assert job.status == "succeeded", job.error_message
    assert job.attempt == 2
    with cluster.sessions() as session:
        assert [step for step, _ in loss_series(session, job_id)] == list(range(1, steps + 1))
        events = session.scalars(
            select(JobEvent.data).where(JobEvent.job_id == job_id, JobEvent.type == LOSS).order_by(JobEvent.id)
        ).all()
        adapter = session.scalars(select(Adapter).where(Adapter.training_job_id == job_id)).one()
    second_attempt_steps = [step for data in events if data["attempt"] == 2 for step, _ in data["points"]]
    # The second attempt took up at the checkpoint, not at step 1, and trained each later step once.
    assert resumed_from is not None and resumed_from % 20 == 0
    assert second_attempt_steps == list(range(resumed_from + 1, steps + 1))
    assert adapter.artifact_id == next(a.id for a in job.artifacts if a.kind == "adapter")


def test_a_generate_only_worker_never_takes_a_training_job(cluster):
    cluster.start_worker(queues="generate")
    training_id = submit_finetune(cluster, max_train_steps=5)
    [generate_id] = cluster.submit(steps=2, num_images=1)

    # The generate worker is up and working: it took the job sent after the training one.
    [generated] = cluster.wait_until_finished([generate_id], timeout=120)
    assert generated.status == "succeeded"
    training = cluster.job(training_id)
    assert (training.status, training.attempt) == ("queued", 0)

    cluster.start_worker(queues="finetune")
    [trained] = cluster.wait_until_finished([training_id], timeout=120)
    assert trained.status == "succeeded"
