"""Jobs that can never succeed: one whose model's weights are corrupt is retried
as configured (max_attempts, with backoff) and then failed with the reason; one
whose params are invalid is the job's own fault and fails at once. The worker
goes on with the next job."""

import shutil

import pytest

from db.jobs import create_job
from db.outbox import send_wake_up

pytestmark = pytest.mark.faults


def test_poison_jobs_are_retried_as_configured_then_failed_and_the_worker_goes_on(make_cluster, models_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(models_dir / "tiny-sd", models / "tiny-sd")
    shutil.copytree(models_dir / "tiny-sd", models / "poisoned")
    (models / "poisoned" / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file")
    cluster = make_cluster(models_dir=models, max_attempts=3)
    worker = cluster.start_worker(wait=False)

    [poisoned] = cluster.submit(model="poisoned", steps=2)
    # Params no submit would accept, as if written by an older version.
    with cluster.sessions.begin() as session:
        invalid = create_job(
            session, owner="faults", kind="generate", model="tiny-sd", params={"prompt": "x", "steps": 0}
        ).id
    with cluster.sessions() as session:
        send_wake_up(session, cluster.app.extensions["genq"].celery, invalid, "generate")
    [healthy] = cluster.submit(model="tiny-sd", steps=2)
    cluster.wait_until_finished([poisoned, invalid, healthy], timeout=120)

    job = cluster.client.get(f"/api/v1/jobs/{poisoned}").json
    assert (job["status"], job["attempt"]) == ("failed", 3)
    assert job["error"]["code"] == "model_load_failed" and "poisoned" in job["error"]["message"]
    attempts = [line for line in worker.log().splitlines() if f"job {poisoned} attempt" in line]
    assert len([line for line in attempts if "it will be retried" in line]) == 2

    job = cluster.client.get(f"/api/v1/jobs/{invalid}").json
    assert (job["status"], job["attempt"], job["error"]["code"]) == ("failed", 1, "invalid_params")
    assert "steps" in job["error"]["message"]

    assert cluster.job(healthy).status == "succeeded"
