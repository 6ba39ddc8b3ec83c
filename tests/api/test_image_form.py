"""The image forms with input images (multipart): image-to-image and inpainting on
`/`, the upscale form, and a job page's "Use as input", "Upscale" and "Same settings
again". The image goes through the API's checks; a refusal is shown next to its
input with the API's status, and nothing is stored."""

import io
import re
import uuid

import pytest
from sqlalchemy import func, select

from db.models import Job, Upload
from tests.api.test_uploads_abuse import png_claiming
from tests.support.forms import SCRIPT_WITHOUT_SRC, csrf_token
from tests.support.uploads import image_bytes

SQUARE = image_bytes((64, 64))
MASK = image_bytes((64, 64), mode="L")  # the left half repainted


def post_form(client, path: str = "/jobs", *, files: dict[str, bytes] | None = None, **fields):
    data = {"csrf_token": csrf_token(client), "prompt": "a red fox", "model": "tiny-sd", **fields}
    data |= {name: (io.BytesIO(content), f"{name}.png") for name, content in (files or {}).items()}
    return client.post(path, data=data, content_type="multipart/form-data")


def job_of(response, session) -> Job:
    assert response.status_code == 303, response.get_data(as_text=True)
    return session.get(Job, uuid.UUID(response.headers["Location"].rsplit("/", 1)[1]))


def field_error(response, field: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="error-{field}">([^<]*)</p>', response.get_data(as_text=True))
    return found and found.group(1)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_the_front_page_has_the_modes_the_drop_zone_the_strength_and_the_mask_canvas(client):
    html = client.get("/").get_data(as_text=True)

    assert 'enctype="multipart/form-data"' in html
    assert re.search(r'id="mode-txt2img" name="mode" value="txt2img" checked', html)
    assert 'id="mode-img2img"' in html and 'id="mode-inpaint"' in html
    assert 'class="drop-zone" id="init_image-drop"' in html and 'id="init_image" name="init_image" type="file"' in html
    assert 'id="strength" name="strength" type="range" min="0.05" max="1" step="0.05" value="0.75"' in html
    assert 'id="mask-canvas"' in html and 'id="brush-size"' in html and 'id="mask-erase"' in html
    assert 'id="mask-clear"' in html and 'id="mask_image" name="mask_image" type="file"' in html
    assert 'src="/static/image_form.js"' in html and not SCRIPT_WITHOUT_SRC.search(html)


def test_image_to_image_from_a_file_queues_the_job_on_its_upload(client, session):
    response = post_form(client, files={"init_image": image_bytes((96, 64))}, mode="img2img", strength="0.4")

    job = job_of(response, session)
    upload = session.get(Upload, uuid.UUID(job.params["init_image"]))
    assert (upload.owner, upload.width, upload.height) == (job.owner, 96, 64)
    assert (job.params["strength"], job.params["width"], job.params["height"]) == (0.4, 96, 64)
    assert job.params["mask_image"] is None


def test_inpainting_sends_the_painted_mask_as_an_upload(client, session):
    files = {"init_image": image_bytes((64, 64)), "mask_image": MASK}
    response = post_form(client, files=files, mode="inpaint", strength="0.9", mask_blur="2")

    job = job_of(response, session)
    mask = session.get(Upload, uuid.UUID(job.params["mask_image"]))
    assert (mask.width, mask.height) == (64, 64)
    assert (job.params["strength"], job.params["mask_blur"]) == (0.9, 2)


def test_text_to_image_leaves_the_other_modes_inputs_out(client, session):
    files = {"init_image": image_bytes((64, 64)), "mask_image": MASK}
    job = job_of(post_form(client, files=files, mode="txt2img", strength="0.3"), session)

    assert (job.params["init_image"], job.params["mask_image"], job.params["strength"]) == (None, None, None)
    assert count(session, Upload) == 0


@pytest.mark.parametrize(
    "fields, files, status, field, message",
    [
        ({"mode": "img2img"}, {}, 422, "init_image", "choose an image"),
        ({"mode": "inpaint"}, {"init_image": SQUARE}, 422, "mask_image", "paint over"),
        ({"mode": "img2img", "strength": "0"}, {"init_image": SQUARE}, 422, "strength", "greater than 0"),
        ({"mode": "img2img"}, {"init_image": b"GIF89a not really"}, 415, "init_image", "PNG, JPEG or WebP"),
        ({"mode": "img2img"}, {"init_image": png_claiming(20000, 20000)}, 413, "init_image", "pixels"),
        ({"mode": "collage"}, {}, 422, "mode", "must be one of"),
    ],
    ids=["no-image", "no-mask", "strength-0", "not-an-image", "bomb-header", "unknown-mode"],
)
def test_a_refused_image_form_shows_the_error_next_to_the_input_and_stores_nothing(
    client, session, fields, files, status, field, message
):
    response = post_form(client, files=files, negative_prompt="blurry", **fields)

    assert response.status_code == status
    error = field_error(response, field)
    assert error and message in error, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert ">blurry</textarea>" in html  # the user's values are kept
    assert (count(session, Job), count(session, Upload)) == (0, 0)


def test_an_oversized_file_is_a_413_next_to_the_input(client_with, session):
    client = client_with(max_upload_file_bytes=2048)
    response = post_form(client, files={"init_image": image_bytes((64, 64)) + b"\0" * 4096}, mode="img2img")

    assert response.status_code == 413
    assert "at most 2048 bytes" in field_error(response, "init_image")
    assert (count(session, Job), count(session, Upload)) == (0, 0)


def test_a_succeeded_jobs_images_link_to_use_as_input_upscale_and_same_settings(client, make_job):
    job = make_job("succeeded", images=2)
    html = client.get(f"/jobs/{job.id}").get_data(as_text=True).replace("&amp;", "&")

    for index, seed in ((0, 7), (1, 8)):
        source = f"artifact:{job.id}/{index}"
        assert f'class="use-as-input" href="/?mode=img2img&init_image_source={source}"' in html
        assert f'class="upscale" href="/upscale?image_source={source}"' in html
        assert f'class="same-settings" href="/?again={job.id}&seed={seed}"' in html


def test_use_as_input_opens_image_to_image_with_the_result_and_submits_its_pixels(client, session, make_job, platform):
    job = make_job("succeeded")
    source = f"artifact:{job.id}/0"
    html = client.get("/", query_string={"mode": "img2img", "init_image_source": source}).get_data(as_text=True)

    assert re.search(r'id="mode-img2img" name="mode" value="img2img" checked', html)
    assert f'id="init_image_source" name="init_image_source" value="{source}"' in html
    assert f'alt="the input image" src="/api/v1/jobs/{job.id}/artifacts/0"' in html

    made = job_of(post_form(client, mode="img2img", init_image_source=source), session)
    upload = session.get(Upload, uuid.UUID(made.params["init_image"]))
    assert (upload.width, upload.height) == (1, 1)  # make_job's 1x1 PNG, checked and stored as an upload
    assert client.get(f"/uploads/{upload.id}.png").data == platform.storage.get(upload.storage_key)


def test_another_owners_result_or_upload_is_a_404_next_to_the_input(client, client_for, session, make_job):
    theirs = make_job("succeeded", owner="someone-else")
    their_upload = {"file": (io.BytesIO(image_bytes()), "a.png")}
    upload_id = client_for("someone-else").post("/api/v1/uploads", data=their_upload).json["id"]

    for source in (f"artifact:{theirs.id}/0", f"artifact:{theirs.id}/5", upload_id):
        response = post_form(client, mode="img2img", init_image_source=source)
        assert response.status_code == 404
        assert field_error(response, "init_image")
    assert client.get(f"/uploads/{upload_id}.png").status_code == 404
    assert count(session, Job) == 1  # theirs


def test_same_settings_again_fills_the_form_with_the_jobs_params_and_the_images_seed(client, session):
    files = {"init_image": image_bytes((64, 64)), "mask_image": MASK}
    job = job_of(post_form(client, files=files, mode="inpaint", strength="0.6", steps="9", seed="3"), session)

    html = client.get("/", query_string={"again": str(job.id), "seed": "4"}).get_data(as_text=True)

    assert ">a red fox</textarea>" in html
    assert 'id="steps" name="steps" type="number" min="1" max="150" value="9"' in html
    assert 'id="seed" name="seed" type="number" min="0" placeholder="random" value="4"' in html
    assert re.search(r'id="mode-inpaint" name="mode" value="inpaint" checked', html)
    assert 'value="0.6"' in html
    assert f'name="init_image_source" value="{job.params["init_image"]}"' in html
    assert f'src="/uploads/{job.params["init_image"]}.png"' in html


def test_the_upscale_form_offers_lanczos_and_the_upscaler_models_and_queues_a_job(
    client_with, upscaler_models_dir, session
):
    client = client_with(models_dir=upscaler_models_dir)
    html = client.get("/upscale").get_data(as_text=True)
    assert '<option value="lanczos" selected>' in html and '<option value="tiny-upscaler">' in html
    assert 'src="/static/image_form.js"' in html and not SCRIPT_WITHOUT_SRC.search(html)

    job = job_of(post_form(client, "/upscale", files={"image": image_bytes((32, 16))}, scale="2.5"), session)
    assert (job.kind, job.model, job.params["scale"]) == ("upscale", "lanczos", 2.5)
    assert session.get(Upload, uuid.UUID(job.params["image"])).width == 32


@pytest.mark.parametrize(
    "fields, files, status, field, message",
    [
        ({}, {}, 422, "image", "Field required"),
        ({"upscaler": "tiny-upscaler", "scale": "3"}, {"image": image_bytes((32, 16))}, 422, "scale", "2 or 4"),
        ({"upscaler": "esrgan"}, {"image": image_bytes((32, 16))}, 422, "upscaler", "upscaler model"),
        ({}, {"image": b"not an image"}, 415, "image", "PNG, JPEG or WebP"),
    ],
    ids=["no-image", "model-scale", "unknown-upscaler", "not-an-image"],
)
def test_a_refused_upscale_form_shows_the_error_next_to_the_input(
    client_with, upscaler_models_dir, session, fields, files, status, field, message
):
    client = client_with(models_dir=upscaler_models_dir)
    response = post_form(client, "/upscale", files=files, **fields)

    assert response.status_code == status
    error = field_error(response, field)
    assert error and message in error, response.get_data(as_text=True)
    assert (count(session, Job), count(session, Upload)) == (0, 0)
