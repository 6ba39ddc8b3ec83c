"""Artifacts on local-directory storage (the embedded first run): no presigned
URL exists, so the job JSON points at the web's download route, which reads
the object through db.storage after the owner check."""

from datetime import timedelta

import pytest

from db.models import utcnow
from db.retention import sweep_expired
from tests.api.conftest import PNG_BYTES, close_app
from web import create_app


@pytest.fixture
def objects_dir(tmp_path):
    return tmp_path / "objects"


@pytest.fixture
def app(settings, objects_dir):
    app = create_app(settings.model_copy(update={"storage_url": f"file://{objects_dir}"}))
    yield app
    close_app(app)


def test_the_artifact_url_is_the_download_route_and_serves_the_image(client, make_job):
    job = make_job("succeeded")

    artifact = client.get(f"/api/v1/jobs/{job.id}").json["artifacts"][0]

    assert artifact["url"] == f"/api/v1/jobs/{job.id}/artifacts/0"
    download = client.get(artifact["url"])
    assert download.status_code == 200 and download.data == PNG_BYTES
    assert download.content_type == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_another_owners_artifact_is_not_served(client, make_job):
    job = make_job("succeeded", owner="someone-else")
    assert client.get(f"/api/v1/jobs/{job.id}/artifacts/0").status_code == 404


def test_an_artifact_whose_object_is_gone_is_not_found(client, make_job, objects_dir):
    job = make_job("succeeded")
    (objects_dir / job.artifacts[0].storage_key).unlink()

    response = client.get(f"/api/v1/jobs/{job.id}/artifacts/0")

    assert response.status_code == 404
    assert "storage" in response.json["error"]["message"]


def test_an_expired_artifact_is_gone_from_the_directory_and_its_download_is_410(
    client, make_job, platform, objects_dir
):
    job = make_job("succeeded")
    retention = platform.settings.model_copy(update={"result_retention_days": 1.0})

    sweep_expired(platform.sessions, platform.storage, retention, now=utcnow() + timedelta(days=2))

    [artifact] = client.get(f"/api/v1/jobs/{job.id}").json["artifacts"]
    assert artifact["expired"] is True and artifact["url"] is None
    response = client.get(f"/api/v1/jobs/{job.id}/artifacts/0")
    assert response.status_code == 410 and response.json["error"]["code"] == "artifact_expired"
    assert not (objects_dir / "jobs" / str(job.id)).exists()
