"""Webhooks at submit time: the URL and events are validated (SSRF rules applied
before anything is stored), the job reports its webhook, each owner reads its own
signing secret, and a cancel of a queued job queues its `canceled` delivery."""

import base64
import json

import pytest
import redis

from db.webhooks import WEBHOOKS_QUEUE
from tests.api.conftest import authenticated_client, close_app
from web import create_app

PARAMS = {"prompt": "a red fox"}


def submit(client, **body):
    return client.post("/api/v1/jobs", json={"params": PARAMS, **body})


def test_a_job_reports_its_webhook_and_the_default_events(client):
    job = submit(client, webhook_url="http://127.0.0.1:9/hook").json  # allowlisted in the test settings

    assert job["webhook"] == {
        "url": "http://127.0.0.1:9/hook",
        "events": ["succeeded", "failed", "canceled"],
        "deliveries": [],
    }
    assert submit(client).json["webhook"] is None


def test_chosen_events_are_kept_in_their_documented_order(client):
    job = submit(client, webhook_url="http://127.0.0.1:9/hook", webhook_events=["failed", "running", "failed"]).json
    assert job["webhook"]["events"] == ["running", "failed"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"webhook_events": ["succeeded"]}, "webhook_events"),
        ({"webhook_url": "http://127.0.0.1:9/hook", "webhook_events": ["queued"]}, "webhook_events.0"),
        ({"webhook_url": "http://127.0.0.1:9/hook", "webhook_events": []}, "webhook_events"),
        ({"webhook_url": 42}, "webhook_url"),
    ],
)
def test_malformed_webhook_fields_are_refused(client, body, field):
    response = submit(client, **body)
    assert response.status_code == 422
    assert [detail["field"] for detail in response.json["error"]["details"]] == [field]


@pytest.fixture
def strict_client(settings, api_key):
    """A client of an app whose settings allow no private webhook hosts (production's)."""
    app = create_app(settings.model_copy(update={"webhook_allowed_hosts": []}))
    yield authenticated_client(app, api_key)
    close_app(app)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[::1]/hook",
    ],
)
def test_urls_reaching_inside_are_refused_at_submit(strict_client, session, url):
    response = submit(strict_client, webhook_url=url)

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert [detail["field"] for detail in error["details"]] == ["webhook_url"]
    assert strict_client.get("/api/v1/jobs").json["jobs"] == []


def test_each_owner_reads_its_own_stable_secret(client, client_for):
    first = client.get("/api/v1/webhook-secret").json
    again = client.get("/api/v1/webhook-secret").json
    theirs = client_for("bob").get("/api/v1/webhook-secret").json

    assert first == again and len(first["secret"]) >= 32
    assert first["header"] == "Genq-Signature"
    assert theirs["secret"] != first["secret"]


def test_a_queued_job_canceled_queues_its_canceled_delivery(client, settings):
    job = submit(client, webhook_url="http://127.0.0.1:9/hook").json

    client.post(f"/api/v1/jobs/{job['id']}/cancel")

    [raw] = redis.Redis.from_url(settings.broker_url).lrange(WEBHOOKS_QUEUE, 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == "genq.deliver_webhook"
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert args == [job["id"], "canceled"]


def test_webhook_bodies_name_artifacts_by_the_apis_own_download_route(app):
    from flask import url_for

    from db.job_json import LOCAL_ARTIFACT_PATH

    job_id = "4a789cc3-78a0-4806-9298-904bbf948163"
    with app.test_request_context():
        route = url_for("api.download_artifact", job_id=job_id, index=3)
    assert route == LOCAL_ARTIFACT_PATH.format(job_id=job_id, index=3)
