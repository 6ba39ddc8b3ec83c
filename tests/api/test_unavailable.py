"""The web when a dependency is down: without the database every request is a 503
naming it (JSON under /api/, a page elsewhere), never a 500; without the broker a
job is still accepted, and the reconciler sends its wake-up once the broker is back."""

import uuid

import pytest
from celery import Celery

from db.models import Job
from db.outbox import resend_owed_wake_ups
from db.queue import celery_config
from tests.api.conftest import authenticated_client, close_app
from tests.support.services import free_port
from web import create_app


@pytest.fixture
def app_without(settings):
    """create_app with one of its services pointing at a port nobody listens on."""
    apps = []

    def make(setting: str, url_format: str):
        app = create_app(settings.model_copy(update={setting: url_format.format(port=free_port())}))
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/jobs", None),
        ("POST", "/api/v1/jobs", {"params": {"prompt": "a red fox"}}),
        ("GET", f"/api/v1/jobs/{uuid.uuid4()}", None),
        ("POST", f"/api/v1/jobs/{uuid.uuid4()}/cancel", None),
    ],
)
def test_with_the_database_down_the_api_answers_503_database_unavailable(app_without, api_key, method, path, body):
    app = app_without("database_url", "postgresql+psycopg://postgres@127.0.0.1:{port}/genq")

    response = authenticated_client(app, api_key).open(path, method=method, json=body)

    assert response.status_code == 503
    assert response.json["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"


def test_with_the_database_down_a_page_is_a_503_page(app_without, api_key):
    app = app_without("database_url", "postgresql+psycopg://postgres@127.0.0.1:{port}/genq")

    response = authenticated_client(app, api_key).get("/jobs")

    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert b"database is not answering" in response.data


def test_a_job_accepted_with_the_broker_down_is_sent_by_the_reconciler_later(
    settings, app_without, api_key, session, queued_job_ids
):
    app = app_without("broker_url", "redis://127.0.0.1:{port}/0")

    response = authenticated_client(app, api_key).post("/api/v1/jobs", json={"params": {"prompt": "a red fox"}})

    assert response.status_code == 202
    assert queued_job_ids() == []
    # A worker's reconciler, talking to the broker that is up again.
    celery = Celery(set_as_current=False)
    celery.config_from_object(celery_config(settings))
    try:
        assert resend_owed_wake_ups(app.extensions["genq"].sessions, celery, resend_after_seconds=0) == 1
    finally:
        celery.close()
    assert queued_job_ids() == [response.json["id"]]
    assert session.get(Job, response.json["id"]).enqueued_at is not None
