"""Submitting upscale jobs (an image, as an upload id or a data URI, and a scale its
upscaler takes, queued with the upscaler as the job's model) and generate jobs with a
hires pass (within the size caps, in the batch key).
Every refusal is a JSON 4xx naming the field, and stores nothing."""

import pytest
from sqlalchemy import func, select

from db.batches import batch_key
from db.models import Job
from tests.api.test_input_images import data_uri, post_upload, stored_uploads
from tests.support.uploads import bucket_objects, image_bytes

UPSCALER = "tiny-upscaler"  # in tests/conftest.py's upscaler_models_dir


@pytest.fixture
def upscale_client(client_with, upscaler_models_dir):
    return client_with(models_dir=upscaler_models_dir)


def submit_upscale(client, **params):
    return client.post("/api/v1/jobs", json={"kind": "upscale", "params": params})


def stored_jobs(session) -> int:
    return session.scalar(select(func.count()).select_from(Job))


def test_an_upscale_job_is_queued_on_its_queue_with_its_upscaler_as_model(upscale_client, settings, session):
    response = submit_upscale(upscale_client, image=data_uri(image_bytes((40, 30))), scale=4, upscaler=UPSCALER)

    assert response.status_code == 202, response.json
    job = response.json
    assert (job["kind"], job["model"], job["params"]["scale"], job["params"]["upscaler"]) == (
        "upscale",
        UPSCALER,
        4,
        UPSCALER,
    )
    upload = upscale_client.get(f"/api/v1/uploads/{job['params']['image']}").json
    assert (upload["width"], upload["height"]) == (40, 30)
    assert bucket_objects(settings, f"uploads/{upload['id']}")


def test_lanczos_is_the_default_upscaler_and_needs_no_model(client):
    upload = post_upload(client, image_bytes((64, 48))).json

    job = submit_upscale(client, image=upload["id"], scale=1.5).json

    assert (job["model"], job["params"]["upscaler"], job["params"]["scale"]) == ("lanczos", "lanczos", 1.5)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"scale": 3, "upscaler": UPSCALER}, 422, "params.scale"),
        ({"scale": 5}, 422, "params.scale"),
        ({"scale": 1.1}, 422, "params.scale"),
        ({"upscaler": "ESRGAN_4x"}, 422, "params.upscaler"),
        ({"upscaler": "tiny-sd"}, 422, "params.upscaler"),  # an image model is no upscaler
        ({"image": data_uri(b"GIF89a not really")}, 415, "params.image"),
        ({"image": "https://example.com/cat.png"}, 422, "params.image"),
        ({"image": None}, 422, "params.image"),
        ({"scale": 4, "image": data_uri(image_bytes((1100, 1000)))}, 422, "params.scale"),  # > 4096*4096 pixels
    ],
    ids=["3-for-a-model", "5", "1.1", "unknown", "an-image-model", "not-an-image", "a-url", "no-image", "too-big"],
)
def test_bad_upscale_params_are_refused_naming_the_field_and_store_nothing(
    upscale_client, session, settings, params, status, field
):
    params = {"image": data_uri(image_bytes((32, 32))), **params}
    if params["image"] is None:
        del params["image"]
    objects_before = set(bucket_objects(settings, "uploads/"))

    response = submit_upscale(upscale_client, **params)

    assert response.status_code == status, response.json
    assert field in [detail["field"] for detail in response.json["error"]["details"]]
    assert stored_uploads(session) == 0 and stored_jobs(session) == 0
    assert set(bucket_objects(settings, "uploads/")) == objects_before


def test_another_owners_upload_is_a_404(client, client_for, session):
    upload = post_upload(client, image_bytes((32, 32))).json

    response = submit_upscale(client_for("stranger"), image=upload["id"])

    assert response.status_code == 404
    assert response.json["error"]["code"] == "upload_not_found"
    assert response.json["error"]["details"][0]["field"] == "params.image"
    assert stored_jobs(session) == 0


def test_an_upscale_job_names_its_upscaler_in_its_params_not_as_model(upscale_client):
    response = upscale_client.post(
        "/api/v1/jobs", json={"kind": "upscale", "model": UPSCALER, "params": {"image": data_uri(image_bytes())}}
    )

    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "model"


def test_upscalers_are_listed_as_models_of_their_kind(upscale_client):
    models = upscale_client.get("/api/v1/models").json

    assert {"name": UPSCALER, "origin": "local", "kind": "upscaler", "default": False} in models["models"]
    assert models["defaults"] == {"image": "tiny-sd", "text": "tiny-text", "speech": "tiny-speech", "clip": "tiny-clip"}


def submit_generate(client, **params):
    return client.post("/api/v1/jobs", json={"params": {"prompt": "a harbour", "width": 512, "height": 384, **params}})


def test_a_hires_pass_is_stored_with_its_defaults_and_is_part_of_the_batch_key(client):
    job = submit_generate(client, steps=30, hires={"scale": 2}).json

    assert job["params"]["hires"] == {"upscaler": "lanczos", "scale": 2, "strength": 0.5, "steps": 30}
    plain = submit_generate(client, steps=30).json
    assert plain["params"]["hires"] is None
    assert batch_key("generate", "tiny-sd", job["params"]) != batch_key("generate", "tiny-sd", plain["params"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"width": 640, "hires": {"scale": 2}}, "params.hires"),  # 1280 wide: over GENQ_MAX_WIDTH
        ({"height": 768, "hires": {"scale": 1.5}}, "params.hires"),  # 1152 high: over GENQ_MAX_HEIGHT
        ({"width": None, "hires": {"scale": 2}}, "params.hires"),  # the first pass's size is unknown
        ({"hires": {"scale": 5}}, "params.hires.scale"),
        ({"hires": {"scale": 3, "upscaler": UPSCALER}}, "params.hires.scale"),
        ({"hires": {"scale": 2, "upscaler": "Latent"}}, "params.hires.upscaler"),
        ({"hires": {"scale": 2, "strength": 0}}, "params.hires.strength"),
        ({"hires": {}}, "params.hires.scale"),
        ({"steps": 1, "hires": {"scale": 2, "strength": 0.5}}, "params.hires"),  # no step in the second pass
        ({"init_image": data_uri(image_bytes((64, 64))), "hires": {"scale": 2}}, "params.hires"),
    ],
    ids=[
        "too-wide",
        "too-high",
        "no-size",
        "scale-5",
        "3-for-a-model",
        "unknown",
        "strength-0",
        "no-scale",
        "no-step",
        "img2img",
    ],
)
def test_a_bad_hires_pass_is_refused_naming_the_field_and_stores_nothing(upscale_client, session, params, field):
    response = submit_generate(upscale_client, **params)

    assert response.status_code == 422, response.json
    assert field in [detail["field"] for detail in response.json["error"]["details"]]
    assert stored_uploads(session) == 0 and stored_jobs(session) == 0


def test_the_openapi_document_describes_upscale_jobs_and_the_hires_pass(client):
    document = client.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]

    assert "upscale" in schemas["SubmitRequest"]["properties"]["kind"]["enum"]
    [upscale] = [
        branch for branch in schemas["SubmitRequest"]["oneOf"] if branch["properties"]["kind"] == {"const": "upscale"}
    ]
    assert upscale["properties"]["params"] == {"$ref": "#/components/schemas/UpscaleSpec"}
    assert schemas["UpscaleSpec"]["required"] == ["image"]
    assert schemas["UpscaleSpec"]["properties"]["scale"]["maximum"] == 4
    assert schemas["HiresSpec"]["required"] == ["scale"]
    assert "hires" in schemas["GenerateSpec"]["properties"]


def test_an_upscale_jobs_page_and_the_lists_show_it(client):
    job = submit_upscale(client, image=data_uri(image_bytes((32, 32)))).json

    assert client.get(f"/jobs/{job['id']}").status_code == 200
    assert client.get("/jobs").status_code == 200
    assert [listed["id"] for listed in client.get("/api/v1/jobs?kind=upscale").json["jobs"]] == [job["id"]]
