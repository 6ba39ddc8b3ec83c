"""Artifacts on S3: the job JSON links each image with a presigned URL, and the
web's download route serves the same object, only to the job's owner."""

import urllib.request

from tests.api.conftest import PNG_BYTES


def test_a_succeeded_job_lists_its_artifacts_with_presigned_urls(client, make_job, settings):
    job = client.get(f"/api/v1/jobs/{make_job('succeeded', images=2).id}").json

    assert job["status"] == "succeeded"
    assert job["progress"] == {"step": 4, "total": 4, "fraction": 1.0}
    assert [artifact["index"] for artifact in job["artifacts"]] == [0, 1]
    first = job["artifacts"][0]
    assert first["content_type"] == "image/png" and first["seed"] == 7
    assert (first["width"], first["height"], first["bytes"]) == (1, 1, len(PNG_BYTES))
    assert first["url"].startswith(settings.s3_endpoint_url)
    with urllib.request.urlopen(first["url"]) as response:
        assert response.read() == PNG_BYTES


def test_the_download_route_serves_the_object_from_s3(client, make_job):
    job = make_job("succeeded", images=2)

    response = client.get(f"/api/v1/jobs/{job.id}/artifacts/1")

    assert response.status_code == 200
    assert response.data == PNG_BYTES
    assert response.content_type == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["ETag"] == f'"{job.artifacts[1].sha256}"'


def test_a_repeated_download_with_the_etag_is_304(client, make_job):
    job = make_job("succeeded")
    etag = client.get(f"/api/v1/jobs/{job.id}/artifacts/0").headers["ETag"]
    response = client.get(f"/api/v1/jobs/{job.id}/artifacts/0", headers={"If-None-Match": etag})
    assert response.status_code == 304


def test_another_owners_artifact_is_not_found(client, make_job):
    job = make_job("succeeded", owner="someone-else")
    response = client.get(f"/api/v1/jobs/{job.id}/artifacts/0")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_an_artifact_index_the_job_does_not_have_is_not_found(client, make_job):
    job = make_job("succeeded")
    assert client.get(f"/api/v1/jobs/{job.id}/artifacts/1").status_code == 404
