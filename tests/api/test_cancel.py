"""Cancelling through the API and the job page, without a worker: a queued job is
canceled at once, a running one is flagged in the row and signalled through
Redis, a finished one answers 409 and a missing (or someone else's) one 404."""

import re
import uuid

import redis

from db.cancellation import cancel_key
from tests.support.forms import csrf_token


def test_a_queued_job_is_canceled_at_once(client, make_job):
    job = make_job()

    response = client.post(f"/api/v1/jobs/{job.id}/cancel")

    assert response.status_code == 200
    body = response.json
    assert (body["status"], body["cancel_requested"], body["queue_position"]) == ("canceled", True, None)
    assert body["finished_at"] is not None and body["started_at"] is None
    assert client.get(f"/api/v1/jobs/{job.id}").json["status"] == "canceled"


def test_a_running_job_is_flagged_and_signalled_to_its_worker(client, make_job, settings):
    job = make_job("running")

    response = client.post(f"/api/v1/jobs/{job.id}/cancel")

    assert response.status_code == 202
    assert (response.json["status"], response.json["cancel_requested"]) == ("running", True)
    assert redis.Redis.from_url(settings.broker_url).exists(cancel_key(job.id)) == 1


def test_cancelling_a_finished_job_is_a_conflict(client, make_job):
    for status in ("succeeded", "failed"):
        job = make_job(status)
        response = client.post(f"/api/v1/jobs/{job.id}/cancel")
        assert response.status_code == 409
        assert response.json["error"]["code"] == "job_finished"
        assert client.get(f"/api/v1/jobs/{job.id}").json["status"] == status


def test_cancelling_twice_is_a_conflict_the_second_time(client, make_job):
    job = make_job()
    assert client.post(f"/api/v1/jobs/{job.id}/cancel").status_code == 200
    assert client.post(f"/api/v1/jobs/{job.id}/cancel").status_code == 409


def test_an_unknown_or_foreign_job_is_not_found(client, client_for, make_job):
    assert client.post(f"/api/v1/jobs/{uuid.uuid4()}/cancel").json["error"]["code"] == "not_found"
    job = make_job()
    stranger = client_for("mallory")
    response = stranger.post(f"/api/v1/jobs/{job.id}/cancel")
    assert response.status_code == 404
    assert client.get(f"/api/v1/jobs/{job.id}").json["status"] == "queued"


def test_the_job_page_has_a_cancel_button_that_cancels(client, make_job):
    job = make_job()
    html = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert 'id="cancel-form"' in html and f'action="/jobs/{job.id}/cancel"' in html

    response = client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": csrf_token(client)})

    assert response.status_code == 303 and response.headers["Location"] == f"/jobs/{job.id}"
    assert client.get(f"/api/v1/jobs/{job.id}").json["status"] == "canceled"
    html = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert re.search(r'<form id="cancel-form"[^>]* hidden>', html)


def test_the_page_cancel_needs_the_csrf_token(client, make_job):
    job = make_job()
    assert client.post(f"/jobs/{job.id}/cancel").status_code == 400
    assert client.get(f"/api/v1/jobs/{job.id}").json["status"] == "queued"
