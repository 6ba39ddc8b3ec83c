"""The fine-tuning pages: the /finetune form (CSRF-protected; uploads the images and
starts the training as the API would, refusals shown on the form), a training job's
loss curve as SVG, /adapters with its "generate with this" link, and the front
page's adapter choice."""

import io
import re
import uuid

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from db import jobs
from db.models import Dataset, Job
from tests.api.conftest import authenticated_client, close_app
from tests.support.adapters import insert_adapter
from tests.support.forms import SCRIPT_WITHOUT_SRC, csrf_token
from tests.support.training import training_pngs
from tests.support.uploads import bucket_objects
from web import create_app

POLYLINE_POINTS = re.compile(r'<polyline id="loss-line" points="([^"]*)"')


def finetune_form(token: str | None, images: list[bytes] | None = None, **fields) -> dict:
    images = training_pngs(2) if images is None else images
    data = {
        "instance_prompt": "a photo of sks toy",
        "model": "tiny-sd",
        "resolution": "64",
        "max_train_steps": "30",
        "seed": "",
        "validation_prompt": "",
        "files": [(io.BytesIO(png), f"toy-{index}.png") for index, png in enumerate(images)],
        **fields,
    }
    if token is not None:
        data["csrf_token"] = token
    return data


def post_finetune(client, data):
    return client.post("/finetune", data=data, content_type="multipart/form-data")


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_the_finetune_page_shows_the_upload_form_with_a_csrf_token(client):
    response = client.get("/finetune")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert 'id="finetune-form"' in html and 'enctype="multipart/form-data"' in html
    assert re.search(r'name="csrf_token" value="[^"]+"', html)
    assert 'id="files" name="files" type="file" multiple' in html
    assert '<option value="tiny-sd" selected>' in html
    assert 'name="max_train_steps" type="number" min="1" max="5000" value="500"' in html
    assert not SCRIPT_WITHOUT_SRC.search(html)


def test_a_finetune_post_without_the_csrf_token_is_refused(client, session):
    response = post_finetune(client, finetune_form(token=None))

    assert response.status_code == 400
    assert count(session, Job) == count(session, Dataset) == 0


def test_uploading_images_starts_a_training_job_and_shows_its_page(client, session, settings):
    response = post_finetune(client, finetune_form(csrf_token(client), max_train_steps="30", rank="8"))

    assert response.status_code == 303
    job_id = re.fullmatch(r"/jobs/([0-9a-f-]{36})", response.headers["Location"]).group(1)
    job = session.get(Job, uuid.UUID(job_id))
    assert (job.kind, job.status, job.model) == ("finetune", "queued", "tiny-sd")
    assert (job.params["max_train_steps"], job.params["rank"], job.params["resolution"]) == (30, 8, 64)
    assert job.params["instance_prompt"] == "a photo of sks toy"
    dataset = session.get(Dataset, uuid.UUID(job.params["dataset_id"]))
    assert dataset.owner == job.owner
    assert [file.filename for file in dataset.files] == ["toy-0.png", "toy-1.png"]
    assert job.enqueued_at is not None  # its wake-up went to the finetune queue

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'<img id="loss-chart" src="/jobs/{job_id}/loss.svg"' in page
    assert "a photo of sks toy" in page


@pytest.mark.parametrize(
    "images, fields, field, message",
    [
        ([], {}, "files", "at least one image"),
        ([b"GIF89a not really"], {}, "files", "toy-0.png"),
        (None, {"instance_prompt": " "}, "instance_prompt", "must not be blank"),
        (None, {"resolution": "100"}, "resolution", "multiple of 8"),
        (None, {"max_train_steps": "999999"}, "max_train_steps", "at most 5000"),
    ],
)
def test_a_refused_upload_or_invalid_param_is_shown_on_the_form(client, session, images, fields, field, message):
    response = post_finetune(client, finetune_form(csrf_token(client), images, **fields))
    html = response.get_data(as_text=True)

    assert 400 <= response.status_code < 500
    assert response.mimetype == "text/html"
    error = re.search(rf'<p class="field-error" id="error-{field}">([^<]*)</p>', html)
    assert error and message in error.group(1)
    assert 'value="a photo of sks toy"' in html or field == "instance_prompt"  # the user's values stay
    assert count(session, Job) == count(session, Dataset) == 0


def test_a_training_over_the_quota_stores_no_dataset(client_for, session, settings):
    client = client_for("carol", max_active_jobs=1)
    token = csrf_token(client)
    assert post_finetune(client, finetune_form(token)).status_code == 303
    stored = bucket_objects(settings, "datasets/")

    response = post_finetune(client, finetune_form(token))

    assert response.status_code == 429
    assert "<strong>quota</strong>" in response.get_data(as_text=True)
    assert count(session, Job) == count(session, Dataset) == 1
    assert bucket_objects(settings, "datasets/") == stored  # no image of the refused upload


def training_job(session, owner: str, losses: list[float]) -> Job:
    """A running training job of `owner` with the loss of steps 1, 2, ... recorded."""
    job = jobs.create_job(
        session,
        owner=owner,
        kind="finetune",
        model="tiny-sd",
        params={"dataset_id": str(uuid.uuid4()), "instance_prompt": "a toy"},
    )
    session.commit()
    claimed = jobs.claim_job(session, job.id, worker_id="test-worker")
    points = list(enumerate(losses, start=1))
    for start in range(0, len(points), 4):  # as a worker writes them: a few steps per write
        jobs.record_reports(session, job.id, claimed.attempt, losses=points[start : start + 4])
    session.commit()
    return job


def test_the_loss_chart_has_one_point_per_recorded_step(client, session, owner):
    job = training_job(session, owner, [1.0 - step / 20 for step in range(11)])

    response = client.get(f"/jobs/{job.id}/loss.svg")

    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "no-store"
    [points] = POLYLINE_POINTS.findall(response.get_data(as_text=True))
    coordinates = [tuple(map(float, pair.split(","))) for pair in points.split()]
    assert len(coordinates) == 11
    xs, ys = zip(*coordinates, strict=False)
    assert list(xs) == sorted(xs) and len(set(xs)) == 11  # left to right, one per step
    assert list(ys) == sorted(ys)  # a falling loss is drawn going down (SVG y grows downwards)


def test_steps_whose_loss_was_not_finite_are_left_out_of_the_line(client, session, owner):
    job = training_job(session, owner, [0.5, float("nan"), 0.4, float("inf")])

    [points] = POLYLINE_POINTS.findall(client.get(f"/jobs/{job.id}/loss.svg").get_data(as_text=True))

    assert len(points.split()) == 2


def test_a_training_without_losses_yet_has_an_empty_chart(client, session, owner):
    job = training_job(session, owner, [])

    svg = client.get(f"/jobs/{job.id}/loss.svg").get_data(as_text=True)

    assert "no loss recorded yet" in svg and not POLYLINE_POINTS.search(svg)


def test_another_owners_loss_chart_is_not_found(client, session):
    job = training_job(session, "bob", [0.5, 0.4])

    assert client.get(f"/jobs/{job.id}/loss.svg").status_code == 404


def test_a_generate_job_has_no_loss_chart(client, make_job):
    job = make_job()

    assert client.get(f"/jobs/{job.id}/loss.svg").status_code == 404
    assert 'id="loss-chart"' not in client.get(f"/jobs/{job.id}").get_data(as_text=True)


def test_the_adapters_page_lists_only_own_adapters_with_a_generate_link(client, session, owner):
    own = insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key="adapters/own.safetensors")
    foreign = insert_adapter(session, owner="bob", base_model="tiny-sd", storage_key="adapters/bob.safetensors")

    html = client.get("/adapters").get_data(as_text=True)

    assert f'data-adapter-id="{own.id}"' in html
    assert f'href="/?adapter={own.id}"' in html
    assert f'href="/jobs/{own.training_job_id}"' in html
    assert str(foreign.id) not in html


def test_the_adapters_page_says_when_there_are_none(client):
    html = client.get("/adapters").get_data(as_text=True)

    assert 'id="adapters" class="empty"' in html and 'href="/finetune"' in html


def test_the_generate_link_preselects_the_adapter_and_its_model(client, session, owner):
    first = insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key="adapters/a.safetensors")
    second = insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key="adapters/b.safetensors")

    html = client.get(f"/?adapter={second.id}").get_data(as_text=True)

    assert re.search(rf'<option value="{second.id}" selected>', html)
    assert f'<option value="{first.id}">' in html
    assert '<option value="tiny-sd" selected>' in html


def adapter_select(html: str) -> str:
    return re.search(r'<select id="adapter" name="adapter">(.*?)</select>', html, re.DOTALL).group(1)


@pytest.mark.parametrize("link", ["not-a-uuid", "unknown", "foreign"])
def test_an_adapter_link_that_is_not_an_own_adapter_preselects_nothing(client, session, owner, link):
    own = insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key="adapters/a.safetensors")
    foreign = insert_adapter(session, owner="bob", base_model="tiny-sd", storage_key="adapters/b.safetensors")
    adapter = {"not-a-uuid": "not-a-uuid", "unknown": str(uuid.uuid4()), "foreign": str(foreign.id)}[link]

    response = client.get(f"/?adapter={adapter}")

    assert response.status_code == 200
    choices = adapter_select(response.get_data(as_text=True))
    assert f'<option value="{own.id}">' in choices and "selected" not in choices
    assert str(foreign.id) not in choices


def test_the_form_submits_a_job_with_the_chosen_adapter_and_scale(client, session, owner):
    adapter = insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key="adapters/a.safetensors")
    form = {"prompt": "a fox", "model": "tiny-sd", "adapter": str(adapter.id), "adapter_scale": "0.6"}

    response = client.post("/jobs", data={**form, "csrf_token": csrf_token(client)})

    assert response.status_code == 303
    job = session.get(Job, uuid.UUID(response.headers["Location"].rsplit("/", 1)[1]))
    assert job.params["adapters"] == [{"id": str(adapter.id), "scale": 0.6}]


def test_the_form_shows_another_owners_adapter_as_not_found(client, session):
    foreign = insert_adapter(session, owner="bob", base_model="tiny-sd", storage_key="adapters/bob.safetensors")
    form = {"prompt": "a fox", "model": "tiny-sd", "adapter": str(foreign.id), "adapter_scale": "1"}

    response = client.post("/jobs", data={**form, "csrf_token": csrf_token(client)})

    assert response.status_code == 404
    assert 'id="error-adapter"' in response.get_data(as_text=True)
    assert count(session, Job) == 1  # bob's adapter's training job only


def test_the_form_shows_an_out_of_range_scale_next_to_its_input(client, session, owner):
    adapter = insert_adapter(session, owner=owner, base_model="tiny-sd", storage_key="adapters/a.safetensors")
    form = {"prompt": "a fox", "model": "tiny-sd", "adapter": str(adapter.id), "adapter_scale": "5"}

    response = client.post("/jobs", data={**form, "csrf_token": csrf_token(client)})

    assert response.status_code == 422
    assert re.search(r'id="error-adapter_scale">[^<]*less than or equal to 2', response.get_data(as_text=True))


def test_the_upload_may_be_larger_than_other_form_posts(client, session, settings):
    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(noise).save(encoded, format="PNG")
    assert len(encoded.getvalue()) > settings.max_request_bytes

    response = post_finetune(client, finetune_form(csrf_token(client), [encoded.getvalue()]))

    assert response.status_code == 303
    assert count(session, Dataset) == 1


def test_an_upload_over_its_limit_is_answered_with_a_page_not_a_crash(make_api_key, owner, session, settings):
    small_uploads = create_app(settings.model_copy(update={"max_upload_bytes": 4096}))
    try:
        client = authenticated_client(small_uploads, make_api_key(owner))
        response = post_finetune(client, finetune_form(csrf_token(client), training_pngs(4, (256, 256))))
    finally:
        close_app(small_uploads)

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert count(session, Dataset) == 0
