"""Input images for jobs: POST /api/v1/uploads under the dataset images' rules,
owner-scoped everywhere, and a job's image params taking an upload id or a data
URI (stored as an upload, so the row holds only ids). Each refusal is a JSON 4xx
naming the field, and stores nothing."""

import base64
import io
import uuid

import pytest
from PIL import Image
from sqlalchemy import func, select

from db.models import Upload
from tests.api.test_uploads_abuse import png_claiming
from tests.support.uploads import bucket_objects, image_bytes


def post_upload(client, content: bytes, filename: str = "photo.png"):
    return client.post(
        "/api/v1/uploads", data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data"
    )


def data_uri(content: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


def submit(client, **params):
    return client.post("/api/v1/jobs", json={"params": {"prompt": "a harbour", **params}})


def stored_uploads(session) -> int:
    return session.scalar(select(func.count()).select_from(Upload))


def test_an_uploaded_image_is_stored_re_encoded_and_reads_back(client, settings):
    response = post_upload(client, image_bytes((100, 75), format="JPEG"), "photo.jpg")

    assert response.status_code == 201, response.json
    upload = response.json
    assert list(upload) == ["id", "content_type", "width", "height", "bytes", "sha256", "created_at"]
    assert (upload["content_type"], upload["width"], upload["height"]) == ("image/png", 100, 75)
    assert response.headers["Location"].endswith(f"/api/v1/uploads/{upload['id']}")
    assert client.get(f"/api/v1/uploads/{upload['id']}").json == upload
    [stored] = bucket_objects(settings, f"uploads/{upload['id']}").values()
    assert Image.open(io.BytesIO(stored)).format == "PNG" and len(stored) == upload["bytes"]


def test_another_owners_upload_is_a_404_also_when_a_job_names_it(client, client_for):
    upload = post_upload(client, image_bytes((64, 64))).json
    stranger = client_for("stranger")

    assert stranger.get(f"/api/v1/uploads/{upload['id']}").status_code == 404
    response = submit(stranger, init_image=upload["id"])
    assert response.status_code == 404
    assert response.json["error"]["code"] == "upload_not_found"
    assert response.json["error"]["details"][0]["field"] == "params.init_image"


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"not an image at all", 415, "unsupported_image_format"),
        (png_claiming(20000, 20000), 413, "image_too_large"),
        (image_bytes((64, 64))[:60], 422, "invalid_image"),
    ],
    ids=["not-an-image", "bomb-header", "truncated"],
)
def test_a_bad_upload_is_refused_naming_the_rule_and_stores_nothing(client, session, content, status, code):
    response = post_upload(client, content)

    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert response.json["error"]["details"][0]["field"] == "file"
    assert stored_uploads(session) == 0


def test_an_upload_needs_multipart_and_one_file(client):
    assert client.post("/api/v1/uploads", json={"file": "x"}).status_code == 415
    response = client.post("/api/v1/uploads", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "file"


def test_an_init_image_sets_the_size_when_none_is_given(client):
    upload = post_upload(client, image_bytes((100, 75))).json

    job = submit(client, init_image=upload["id"]).json
    assert (job["params"]["width"], job["params"]["height"]) == (96, 72)  # multiples of 8
    assert job["params"]["init_image"] == upload["id"] and job["params"]["strength"] == 0.75

    given = submit(client, init_image=upload["id"], width=64, height=64).json
    assert (given["params"]["width"], given["params"]["height"]) == (64, 64)


def test_a_data_uri_is_stored_as_an_upload_and_the_job_names_it(client, session):
    response = submit(client, init_image=data_uri(image_bytes((80, 64), format="WEBP"), "image/webp"), strength=0.5)

    assert response.status_code == 202, response.json
    upload_id = response.json["params"]["init_image"]
    assert uuid.UUID(upload_id)
    upload = client.get(f"/api/v1/uploads/{upload_id}").json
    assert (upload["width"], upload["height"]) == (80, 64)
    assert (response.json["params"]["width"], response.json["params"]["height"]) == (80, 64)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"mask_image": "{upload}"}, 422, "params.mask_image"),
        ({"init_image": "{upload}", "strength": 0}, 422, "params.strength"),
        ({"init_image": "{upload}", "strength": 1.5}, 422, "params.strength"),
        ({"init_image": "{upload}", "strength": 0.3, "steps": 3}, 422, "params.strength"),
        ({"init_image": "https://example.com/cat.png"}, 422, "params.init_image"),
        ({"init_image": data_uri(b"GIF89a not really")}, 415, "params.init_image"),
        ({"init_image": data_uri(png_claiming(20000, 20000))}, 413, "params.init_image"),
    ],
    ids=["mask-without-init", "strength-0", "strength-1.5", "no-step-repaints", "a-url", "not-an-image", "bomb-header"],
)
def test_bad_image_params_are_refused_naming_the_field_and_store_nothing(client, session, params, status, field):
    upload = post_upload(client, image_bytes((64, 64))).json
    params = {
        name: value.format(upload=upload["id"]) if isinstance(value, str) else value for name, value in params.items()
    }

    response = submit(client, **params)

    assert response.status_code == status, response.json
    assert field in [detail["field"] for detail in response.json["error"]["details"]]
    assert stored_uploads(session) == 1  # the upload made above, nothing more


def test_an_oversized_data_uri_is_a_413(client_with, session):
    client = client_with(max_upload_file_bytes=2048)
    response = submit(client, init_image=data_uri(image_bytes((64, 64)) + b"\0" * 4096))

    assert response.status_code == 413
    assert response.json["error"]["code"] == "file_too_large"
    assert response.json["error"]["details"][0]["field"] == "params.init_image"
    assert stored_uploads(session) == 0


def test_an_image_to_image_job_may_have_a_blank_prompt(client):
    upload = post_upload(client, image_bytes((64, 64))).json

    response = submit(client, prompt="", init_image=upload["id"])
    blank_text_to_image = submit(client, prompt="")

    assert response.status_code == 202, response.json
    assert response.json["params"]["prompt"] == ""
    assert blank_text_to_image.status_code == 422
    assert blank_text_to_image.json["error"]["details"] == [{"field": "params.prompt", "message": "must not be blank"}]
