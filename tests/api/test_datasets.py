"""Uploading a dataset: the images land in S3 re-encoded as PNGs of the same size
(scaled down only past what training reads),
rows describe them with their captions, and the owner reads and lists them. A
finetune job must name one of its owner's datasets. (Refusals:
tests/api/test_uploads_abuse.py.)"""

import io
import uuid

from PIL import Image

from db.models import Dataset
from tests.api.conftest import authenticated_client, close_app
from tests.support.uploads import bucket_objects, image_bytes, upload
from web import create_app

PNG_EXIF_ORIENTATION = 0x0112


def test_a_good_set_is_stored_as_pngs_with_its_captions(client, settings, session):
    files = [
        ("cat.png", image_bytes((8, 6))),
        ("cat.txt", b"a photo of sks cat\n"),
        ("dog.jpg", image_bytes((16, 12), format="JPEG")),
        ("bird.webp", image_bytes((10, 20), format="WEBP", lossless=True)),
        ("bird.txt", "ein Vogel, très joli".encode()),
    ]
    response = upload(client, files, name="pets")

    assert response.status_code == 201, response.json
    dataset = response.json
    assert response.headers["Location"] == f"/api/v1/datasets/{dataset['id']}"
    assert dataset["name"] == "pets"
    assert [(f["index"], f["filename"], f["width"], f["height"], f["caption"]) for f in dataset["files"]] == [
        (0, "cat.png", 8, 6, "a photo of sks cat"),
        (1, "dog.jpg", 16, 12, None),
        (2, "bird.webp", 10, 20, "ein Vogel, très joli"),
    ]
    assert {f["content_type"] for f in dataset["files"]} == {"image/png"}

    stored = bucket_objects(settings, f"datasets/{dataset['id']}/")
    assert sorted(stored) == [f"datasets/{dataset['id']}/{index}.png" for index in range(3)]
    for described in dataset["files"]:
        data = stored[f"datasets/{dataset['id']}/{described['index']}.png"]
        assert described["bytes"] == len(data)
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG"
            assert image.size == (described["width"], described["height"])
            left, right = image.getpixel((0, 0)), image.getpixel((image.width - 1, 0))
            assert left[0] > 200 > left[2] and right[2] > 200 > right[0]  # red left, blue right (JPEG is lossy)

    row = session.get(Dataset, uuid.UUID(dataset["id"]))
    assert row.owner == "local" and row.total_bytes == sum(len(data) for data in stored.values())
    assert [file.caption for file in row.files] == ["a photo of sks cat", None, "ein Vogel, très joli"]


def test_stored_images_carry_no_metadata_and_stand_upright(client, settings):
    exif = Image.Exif()
    exif[PNG_EXIF_ORIENTATION] = 6  # "rotate 90° clockwise to display"
    exif[0x010E] = "secret description"
    photo = image_bytes((8, 4), format="JPEG", exif=exif.tobytes(), quality=95)

    dataset = upload(client, [("photo.jpg", photo)]).json

    (data,) = bucket_objects(settings, f"datasets/{dataset['id']}/").values()
    assert b"secret description" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (4, 8)  # turned as the camera said
        assert not image.getexif() and "icc_profile" not in image.info
    assert (dataset["files"][0]["width"], dataset["files"][0]["height"]) == (4, 8)


def test_transparency_is_kept(client, settings):
    dataset = upload(client, [("logo.png", image_bytes(mode="RGBA"))]).json
    (data,) = bucket_objects(settings, f"datasets/{dataset['id']}/").values()
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGBA"


def test_file_names_are_sanitised(client):
    dataset = upload(client, [("../../etc/my cat.png", image_bytes())]).json
    assert dataset["files"][0]["filename"] == "etc_my_cat.png"


def test_the_owner_reads_a_dataset_back(client):
    created = upload(client, [("a.png", image_bytes())], name="one").json

    response = client.get(f"/api/v1/datasets/{created['id']}")

    assert response.status_code == 200
    assert response.json == created


def test_an_unknown_dataset_is_404(client):
    response = client.get(f"/api/v1/datasets/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_datasets_are_listed_newest_first_in_pages(client):
    ids = [upload(client, [("a.png", image_bytes())], name=f"set {n}").json["id"] for n in range(3)]

    first = client.get("/api/v1/datasets?limit=2").json
    second = client.get(f"/api/v1/datasets?limit=2&cursor={first['next_cursor']}").json

    assert [dataset["id"] for dataset in first["datasets"]] == ids[:0:-1]
    assert [dataset["id"] for dataset in second["datasets"]] == ids[:1]
    assert second["next_cursor"] is None
    assert client.get("/api/v1/datasets?cursor=garbage").status_code == 400


def finetune_body(dataset_id: str) -> dict:
    return {"kind": "finetune", "model": "tiny-sd", "params": {"dataset_id": dataset_id, "instance_prompt": "sks"}}


def test_a_finetune_job_on_an_own_dataset_is_accepted(client):
    dataset = upload(client, [("a.png", image_bytes())]).json

    response = client.post("/api/v1/jobs", json=finetune_body(dataset["id"]))

    assert response.status_code == 202, response.json
    assert response.json["params"]["dataset_id"] == dataset["id"]


def test_a_finetune_job_on_a_missing_dataset_is_404(client):
    # Another owner's dataset gets the same answer: tests/api/test_isolation.py.
    response = client.post("/api/v1/jobs", json=finetune_body(str(uuid.uuid4())))

    assert response.status_code == 404
    assert response.json["error"]["code"] == "dataset_not_found"
    assert response.json["error"]["details"][0]["field"] == "params.dataset_id"
    assert client.get("/api/v1/jobs").json["jobs"] == []


def test_a_training_with_more_than_100_checkpoints_is_refused_and_defaults_checkpoint_within_it(client):
    dataset_id = upload(client, [("a.png", image_bytes())]).json["id"]
    too_often = {**finetune_body(dataset_id)["params"], "max_train_steps": 1000, "checkpointing_steps": 5}

    refused = client.post("/api/v1/jobs", json={"kind": "finetune", "params": too_often})
    accepted = client.post("/api/v1/jobs", json=finetune_body(dataset_id))

    assert refused.status_code == 422
    assert "checkpointing_steps must be at least 10" in refused.json["error"]["message"]
    assert accepted.status_code == 202
    # The default run (500 steps) is saved every 100 steps, so a crashed one resumes.
    assert accepted.json["params"]["checkpointing_steps"] == 100


def test_an_image_larger_than_training_reads_is_stored_scaled_down(api_key, settings):
    # Training never reads more than max_train_resolution (64 here) on the short side.
    small_training = settings.model_copy(update={"max_train_resolution": 64})
    app = create_app(small_training)
    try:
        uploader = authenticated_client(app, api_key)
        dataset = upload(uploader, [("wide.png", image_bytes((400, 100)))]).json
    finally:
        close_app(app)

    (data,) = bucket_objects(settings, f"datasets/{dataset['id']}/").values()
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (128, 32) == (dataset["files"][0]["width"], dataset["files"][0]["height"])
        left, right = image.getpixel((0, 0)), image.getpixel((image.width - 1, 0))
        assert left[0] > 200 > left[2] and right[2] > 200 > right[0]
