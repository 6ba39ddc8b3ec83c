"""POST /api/v1/jobs: a valid job is committed and announced on its queue; every
invalid one is refused with 422 naming the field, and leaves no row or message."""

import pytest
from sqlalchemy import func, select

import db.outbox
from db.jobs import LOCAL_OWNER
from db.models import Job
from db.settings import Settings
from db.specs import MAX_SEED
from tests.api.conftest import authenticated_client, close_app
from tests.support.services import free_port
from web import create_app


def test_a_submitted_job_is_queued_stored_and_sent(client, session, queued_job_ids):
    response = client.post("/api/v1/jobs", json={"params": {"prompt": "a red fox", "width": 64}})

    assert response.status_code == 202
    job = response.json
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["kind"] == "generate"
    assert job["model"] == "tiny-sd"  # the registry's default
    assert 0 <= job["params"]["seed"] <= MAX_SEED  # drawn at submit time, and reported
    assert job["params"]["steps"] == 25 and job["params"]["width"] == 64

    row = session.get(Job, job["id"])
    assert row.status == "queued" and row.owner == LOCAL_OWNER
    assert row.params == job["params"]
    assert queued_job_ids() == [job["id"]]
    assert row.enqueued_at is not None  # the wake-up left; nothing is owed


def test_the_row_is_committed_before_the_message_is_sent(client, platform, monkeypatch):
    # A worker woken by the message reads the job from its own connection.
    seen_by_another_connection = []
    real_send_job = db.outbox.send_job

    def send_job_checking_the_row(celery, job_id, queue):
        with platform.sessions() as other_session:
            seen_by_another_connection.append(other_session.get(Job, job_id) is not None)
        real_send_job(celery, job_id, queue)

    monkeypatch.setattr(db.outbox, "send_job", send_job_checking_the_row)
    assert client.post("/api/v1/jobs", json={"params": {"prompt": "a red fox"}}).status_code == 202
    assert seen_by_another_connection == [True]


def test_given_seed_model_and_scheduler_are_kept(client):
    body = {
        "kind": "generate",
        "model": "tiny-sd",
        "params": {"prompt": "a red fox", "seed": 1234, "scheduler": "euler_a", "num_images": 2},
    }
    job = client.post("/api/v1/jobs", json=body).json
    assert job["params"]["seed"] == 1234
    assert job["params"]["scheduler"] == "euler_a"
    assert job["params"]["num_images"] == 2


# The test settings keep the default caps.
MAX_PROMPT_CHARS = Settings.model_fields["max_prompt_chars"].default
MAX_WIDTH = Settings.model_fields["max_width"].default


FINETUNE = {"dataset_id": "0b4f1a52-6f1c-4d0e-9a43-2d8f4b1c7e55", "instance_prompt": "a photo of sks"}


def _prompt(**params):
    return {"params": {"prompt": "a red fox", **params}}


INVALID_BODIES = {
    "prompt missing": ({"params": {}}, "params.prompt"),
    "prompt blank": ({"params": {"prompt": "   "}}, "params.prompt"),
    "prompt too long": ({"params": {"prompt": "x" * (MAX_PROMPT_CHARS + 1)}}, "params.prompt"),
    "negative prompt too long": (
        _prompt(negative_prompt="x" * (MAX_PROMPT_CHARS + 1)),
        "params.negative_prompt",
    ),
    "width not a multiple of 8": (_prompt(width=100), "params.width"),
    "width above the cap": (_prompt(width=MAX_WIDTH + 8), "params.width"),
    "height below the minimum": (_prompt(height=32), "params.height"),
    "steps 0": (_prompt(steps=0), "params.steps"),
    "steps 151": (_prompt(steps=151), "params.steps"),
    "guidance 31": (_prompt(guidance_scale=31), "params.guidance_scale"),
    "num_images 9": (_prompt(num_images=9), "params.num_images"),
    "seed negative": (_prompt(seed=-1), "params.seed"),
    "seed too large": (_prompt(seed=MAX_SEED + 1), "params.seed"),
    "unknown scheduler": (_prompt(scheduler="warp_drive"), "params.scheduler"),
    "unknown param": (_prompt(colour="red"), "params.colour"),
    "wrong param type": (_prompt(steps="many"), "params.steps"),
    # The JSON API takes the JSON types its document states (forms and compat APIs take text).
    "a number as text": (_prompt(steps="20"), "params.steps"),
    "a boolean for a number": (_prompt(seed=True), "params.seed"),
    "a number for a boolean": (_prompt(score=1), "params.score"),
    "a boolean priority": ({**_prompt(), "priority": True}, "priority"),
    # Postgres cannot read a stored document holding U+0000 (claims and deletions read params).
    "a NUL in the prompt": (_prompt(prompt="a red\u0000fox"), "params.prompt"),
    # Python's JSON parser takes Infinity and NaN, which JSON has not.
    "an infinite number": (
        {"kind": "finetune", "model": "tiny-sd", "params": {**FINETUNE, "max_grad_norm": float("inf")}},
        "params.max_grad_norm",
    ),
    "a NUL in a stop sequence": ({"kind": "textgen", "params": {"prompt": "hi", "stop": ["\u0000"]}}, "params.stop"),
    "params missing": ({"kind": "generate"}, "params"),
    "params not an object": ({"params": ["a red fox"]}, "params"),
    "unknown top-level field": ({**_prompt(), "colour": "red"}, "colour"),
    "unknown kind": ({**_prompt(), "kind": "video"}, "kind"),
    "empty model name": ({**_prompt(), "model": ""}, "model"),
}


@pytest.mark.parametrize("body, field", INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
def test_invalid_params_are_refused_naming_the_field(client, session, queued_job_ids, body, field):
    response = client.post("/api/v1/jobs", json=body)

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert field in [detail["field"] for detail in error["details"]]
    assert all(detail["message"] for detail in error["details"])
    assert not error["details"][0]["message"].startswith("Value error")
    assert session.scalar(select(func.count()).select_from(Job)) == 0
    assert queued_job_ids() == []


def test_an_unknown_model_is_refused(client, session):
    response = client.post("/api/v1/jobs", json={**_prompt(), "model": "sdxl-turbo"})

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "unknown_model"
    assert error["details"][0]["field"] == "model"
    assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_malformed_json_is_a_400(client):
    response = client.post("/api/v1/jobs", data='{"params": {"prompt": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_a_body_that_is_not_json_is_a_415(client):
    response = client.post("/api/v1/jobs", data={"prompt": "a red fox"})
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("body", ['["a red fox"]', '"a red fox"', "null", "3"])
def test_a_json_body_that_is_not_an_object_is_refused(client, body):
    response = client.post("/api/v1/jobs", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.json["error"]["details"] == [{"field": "body", "message": "must be a JSON object"}]


def test_a_body_over_the_size_limit_is_a_413(client, settings):
    # A job's params may carry images inline: its body has the image cap, not the 1 MiB of other JSON.
    body = {"params": {"prompt": "x" * settings.max_image_request_bytes}}
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "request_entity_too_large"


def test_with_the_broker_down_the_job_is_still_accepted_and_stays_queued(settings, session, queued_job_ids, api_key):
    # The row is committed before the send; a reconciler re-sends what never left.
    app = create_app(settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"}))
    try:
        response = authenticated_client(app, api_key).post("/api/v1/jobs", json=_prompt())
    finally:
        close_app(app)

    assert response.status_code == 202
    row = session.get(Job, response.json["id"])
    assert row.status == "queued" and row.enqueued_at is None  # its wake-up is owed
    assert queued_job_ids() == []
