"""Deleting over the API: a finished job, an adapter, a dataset, an upload. Each
answers 204 once its objects are gone from the bucket (moto S3) and its rows after
them; another owner's is a 404 like a missing one; one a queued or running job
names is a 409 and stays whole. Expired artifacts (retention) read as expired."""

import io
import uuid
from datetime import timedelta

from db.input_images import upload_key
from db.models import utcnow
from db.retention import sweep_expired
from db.storage import artifact_key, job_prefix
from tests.support.adapters import insert_adapter
from tests.support.uploads import image_bytes, upload


def folder_keys(platform, prefix: str) -> list[str]:
    return platform.storage.list_keys(prefix)


def test_a_finished_job_is_deleted_with_its_objects_and_events(client, make_job, platform):
    job = make_job("succeeded", images=2)
    platform.storage.put(artifact_key(job.id, 5, 0, "png"), b"late", "image/png")  # a lost attempt's

    response = client.delete(f"/api/v1/jobs/{job.id}")

    assert response.status_code == 204 and response.data == b""
    assert client.get(f"/api/v1/jobs/{job.id}").status_code == 404
    assert client.get(f"/api/v1/jobs/{job.id}/events").status_code == 404
    assert folder_keys(platform, job_prefix(job.id)) == []


def test_a_queued_or_running_job_is_not_deleted(client, make_job):
    for status in ("queued", "running"):
        job = make_job(status)

        response = client.delete(f"/api/v1/jobs/{job.id}")

        assert response.status_code == 409
        assert response.json["error"]["code"] == "job_not_finished"
        assert client.get(f"/api/v1/jobs/{job.id}").json["status"] == status


def test_another_owners_job_is_a_404_and_stays(client, client_for, make_job, platform):
    job = make_job("succeeded", owner="bob")

    assert client.delete(f"/api/v1/jobs/{job.id}").status_code == 404
    assert client.delete(f"/api/v1/jobs/{uuid.uuid4()}").status_code == 404
    assert client_for("bob").get(f"/api/v1/jobs/{job.id}").status_code == 200
    assert folder_keys(platform, job_prefix(job.id)) == [job.artifacts[0].storage_key]


def own_adapter(session, platform, owner="local"):
    key = f"jobs/{uuid.uuid4()}/1/0.safetensors"
    platform.storage.put(key, b"weights", "application/octet-stream")
    return insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key=key, data=b"weights")


def test_a_job_that_trained_an_adapter_is_kept_until_the_adapter_goes(client, session, platform):
    adapter = own_adapter(session, platform)

    refused = client.delete(f"/api/v1/jobs/{adapter.training_job_id}")

    assert refused.status_code == 409 and refused.json["error"]["code"] == "job_has_adapter"
    assert client.delete(f"/api/v1/adapters/{adapter.id}").status_code == 204
    assert client.delete(f"/api/v1/jobs/{adapter.training_job_id}").status_code == 204


def test_an_adapter_is_deleted_with_its_weights_and_its_job_says_expired(client, session, platform):
    adapter = own_adapter(session, platform)
    weights_key = adapter.artifact.storage_key

    response = client.delete(f"/api/v1/adapters/{adapter.id}")

    assert response.status_code == 204
    assert client.get(f"/api/v1/adapters/{adapter.id}").status_code == 404
    assert platform.storage.list_keys(weights_key.rsplit("/", 1)[0] + "/") == []
    [artifact] = client.get(f"/api/v1/jobs/{adapter.training_job_id}").json["artifacts"]
    assert artifact["expired"] is True and artifact["url"] is None


def test_the_adapters_a_queued_job_uses_are_not_deleted(client, session, platform):
    adapter, second = own_adapter(session, platform), own_adapter(session, platform)
    adapters = [{"id": str(adapter.id), "scale": 1.0}, {"id": str(second.id), "scale": 0.5}]
    submitted = client.post("/api/v1/jobs", json={"params": {"prompt": "a fox", "adapters": adapters}})
    assert submitted.status_code == 202, submitted.json

    for used in (adapter, second):
        response = client.delete(f"/api/v1/adapters/{used.id}")
        assert response.status_code == 409 and response.json["error"]["code"] == "adapter_in_use"
        assert client.get(f"/api/v1/adapters/{used.id}").status_code == 200
        assert platform.storage.get(used.artifact.storage_key) == b"weights"
    assert client.post(f"/api/v1/jobs/{submitted.json['id']}/cancel").status_code == 200
    assert client.delete(f"/api/v1/adapters/{adapter.id}").status_code == 204
    assert client.delete(f"/api/v1/adapters/{second.id}").status_code == 204


def test_another_owners_adapter_is_a_404(client, session, platform):
    adapter = own_adapter(session, platform, owner="bob")
    assert client.delete(f"/api/v1/adapters/{adapter.id}").status_code == 404
    assert platform.storage.get(adapter.artifact.storage_key) == b"weights"


def test_a_dataset_is_deleted_with_its_images_unless_a_queued_job_trains_on_it(client, client_for, platform):
    dataset = upload(client, [("a.png", image_bytes()), ("b.png", image_bytes())]).json
    training = client.post(
        "/api/v1/jobs",
        json={"kind": "finetune", "model": "tiny-sd", "params": {"dataset_id": dataset["id"], "instance_prompt": "x"}},
    )
    assert training.status_code == 202, training.json

    in_use = client.delete(f"/api/v1/datasets/{dataset['id']}")
    strangers = client_for("bob").delete(f"/api/v1/datasets/{dataset['id']}")
    assert in_use.status_code == 409 and in_use.json["error"]["code"] == "dataset_in_use"
    assert strangers.status_code == 404
    assert len(folder_keys(platform, f"datasets/{dataset['id']}/")) == 2

    client.post(f"/api/v1/jobs/{training.json['id']}/cancel")
    assert client.delete(f"/api/v1/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/api/v1/datasets/{dataset['id']}").status_code == 404
    assert folder_keys(platform, f"datasets/{dataset['id']}/") == []


def test_an_upload_is_deleted_with_its_image_unless_a_queued_job_reads_it(client, client_for, platform):
    made = client.post(
        "/api/v1/uploads",
        data={"file": (io.BytesIO(image_bytes((64, 64))), "a.png")},
        content_type="multipart/form-data",
    ).json
    job = client.post("/api/v1/jobs", json={"params": {"prompt": "a harbour", "init_image": made["id"]}})
    assert job.status_code == 202, job.json

    in_use = client.delete(f"/api/v1/uploads/{made['id']}")
    assert in_use.status_code == 409 and in_use.json["error"]["code"] == "upload_in_use"
    assert upload_key(uuid.UUID(made["id"])) in folder_keys(platform, "uploads/")
    assert client_for("bob").delete(f"/api/v1/uploads/{made['id']}").status_code == 404

    client.post(f"/api/v1/jobs/{job.json['id']}/cancel")
    assert client.delete(f"/api/v1/uploads/{made['id']}").status_code == 204
    assert client.get(f"/api/v1/uploads/{made['id']}").status_code == 404
    # Other tests' uploads share the bucket's folder: only this one's object must be gone.
    assert upload_key(uuid.UUID(made["id"])) not in folder_keys(platform, "uploads/")


def test_an_expired_artifact_reads_as_expired_and_its_download_is_410(client, make_job, platform, settings):
    job = make_job("succeeded")
    retention = settings.model_copy(update={"result_retention_days": 7.0})

    swept = sweep_expired(platform.sessions, platform.storage, retention, now=utcnow() + timedelta(days=8))

    assert swept is not None and swept.results == 1
    [artifact] = client.get(f"/api/v1/jobs/{job.id}").json["artifacts"]
    assert artifact["expired"] is True and artifact["url"] is None
    assert artifact["sha256"] == job.artifacts[0].sha256  # the row still describes it
    download = client.get(f"/api/v1/jobs/{job.id}/artifacts/0")
    assert download.status_code == 410 and download.json["error"]["code"] == "artifact_expired"
    assert folder_keys(platform, job_prefix(job.id)) == []
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "image 1: expired" in page and f"/api/v1/jobs/{job.id}/artifacts/0" not in page


def test_an_unexpired_artifact_says_so(client, make_job):
    job = make_job("succeeded")
    [artifact] = client.get(f"/api/v1/jobs/{job.id}").json["artifacts"]
    assert artifact["expired"] is False
    assert client.get(f"/api/v1/jobs/{job.id}/artifacts/0").status_code == 200
