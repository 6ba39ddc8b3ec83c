"""Both storage backends keep what they are given and hand it back: a local
directory, and S3 through moto's real HTTP server (presigned URLs included)."""

import urllib.request
import uuid

import pytest

from db.settings import Settings
from db.storage import LocalStorage, ObjectNotFound, S3Storage, artifact_key, make_storage


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return make_storage(Settings(_env_file=None, storage_url=f"file://{tmp_path}/objects"))
    settings = request.getfixturevalue("platform_settings")
    return make_storage(settings.model_copy(update={"storage_url": f"{settings.storage_url}/prefix"}))


def test_put_then_get_returns_the_bytes(storage):
    key = artifact_key(uuid.uuid4(), 1, 0, "png")
    storage.put(key, b"\x89PNG data", "image/png")
    assert storage.get(key) == b"\x89PNG data"
    storage.check()


def test_a_missing_object_is_not_found(storage):
    with pytest.raises(ObjectNotFound):
        storage.get(artifact_key(uuid.uuid4(), 1, 0, "png"))


def test_backends_are_chosen_by_url(storage):
    assert isinstance(storage, (LocalStorage, S3Storage))


def test_s3_presigned_url_downloads_the_object(platform_settings):
    storage = make_storage(platform_settings)
    key = artifact_key(uuid.uuid4(), 1, 1, "png")
    storage.put(key, b"image bytes", "image/png")
    url = storage.presigned_url(key)
    assert "X-Amz-Signature" in url and "X-Amz-Expires=900" in url
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"image bytes"
        assert response.headers["Content-Type"] == "image/png"


def test_local_storage_refuses_keys_outside_its_root(tmp_path):
    storage = LocalStorage(tmp_path / "objects")
    with pytest.raises(ValueError):
        storage.put("../escape.png", b"x", "image/png")
    assert storage.presigned_url("jobs/x/0.png") is None


def test_an_unknown_storage_scheme_is_refused():
    with pytest.raises(ValueError, match="file:// or s3://"):
        make_storage(Settings(_env_file=None, storage_url="ftp://somewhere"))


def test_presigned_urls_name_the_public_endpoint_when_one_is_set(platform_settings):
    public = platform_settings.model_copy(update={"s3_public_endpoint_url": "http://localhost:19000"})
    url = make_storage(public).presigned_url("jobs/x/0.png")
    assert url.startswith("http://localhost:19000/") and "X-Amz-Signature" in url


def test_deleting_a_folder_deletes_only_the_objects_under_it(storage):
    job_id = uuid.uuid4()
    first = [artifact_key(job_id, 1, index, "png") for index in range(3)]
    second = artifact_key(job_id, 2, 0, "png")
    neighbour = artifact_key(job_id, 11, 0, "png")  # "jobs/<id>/11/" starts with "jobs/<id>/1"
    for key in [*first, second, neighbour]:
        storage.put(key, b"image", "image/png")

    assert storage.delete_prefix(f"jobs/{job_id}/1/") == 3
    assert storage.delete_prefix(f"jobs/{job_id}/1/") == 0

    for key in first:
        with pytest.raises(ObjectNotFound):
            storage.get(key)
    assert storage.get(second) == storage.get(neighbour) == b"image"
    with pytest.raises(ValueError):
        storage.delete_prefix(f"jobs/{job_id}/1")  # not a folder: it would take attempt 11 too


def test_a_folder_lists_the_keys_under_it_and_chosen_keys_are_deleted(storage):
    job_id = uuid.uuid4()
    kept, swept = artifact_key(job_id, 1, 0, "png"), artifact_key(job_id, 2, 0, "png")
    neighbour = artifact_key(job_id, 11, 0, "png")
    for key in (kept, swept, neighbour):
        storage.put(key, b"image", "image/png")

    assert sorted(storage.list_keys(f"jobs/{job_id}/")) == sorted([kept, swept, neighbour])
    assert storage.list_keys(f"jobs/{job_id}/1/") == [kept]
    assert storage.list_keys(f"jobs/{uuid.uuid4()}/") == []

    storage.delete_keys([swept, neighbour, artifact_key(job_id, 3, 0, "png")])  # the last never existed

    assert storage.list_keys(f"jobs/{job_id}/") == [kept]
    assert storage.get(kept) == b"image"
    with pytest.raises(ValueError):
        storage.list_keys(f"jobs/{job_id}")


def test_deleting_the_last_object_of_a_local_folder_removes_the_folder(tmp_path):
    storage = LocalStorage(tmp_path / "objects")
    key = artifact_key(uuid.uuid4(), 1, 0, "png")
    storage.put(key, b"image", "image/png")

    storage.delete_keys([key])

    assert list((tmp_path / "objects").iterdir()) == []
