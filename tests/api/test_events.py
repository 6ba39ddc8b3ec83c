"""The event stream (SSE) through the Flask test client: a finished job's stream
replays its whole history and ends with `done`, Last-Event-ID resumes after an
event, a waiting job's stream ends after its time limit, and a process serves
only so many streams at once."""

import importlib
import time
import uuid

import pytest

from db import jobs
from db.jobs import retry_job
from tests.api.conftest import authenticated_client, close_app
from tests.support.sse import events_of
from web import create_app


def stream(client, job_id, **kwargs):
    return client.get(f"/api/v1/jobs/{job_id}/events", **kwargs)


def test_a_finished_job_replays_every_event_then_done(client, make_job):
    job = make_job("succeeded", images=2)

    response = stream(client, job.id)

    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    text = response.get_data(as_text=True)
    assert text.startswith("retry: 1000\n\n")
    events = events_of(text)
    assert [(event.type, event.data.get("status")) for event in events] == [
        ("status", "queued"),
        ("status", "running"),
        ("progress", None),
        ("artifacts", None),
        ("status", "succeeded"),
        ("done", "succeeded"),
    ]
    assert [event.id for event in events] == sorted(event.id for event in events)
    assert events[2].data == {"step": 2, "total": 4}
    artifacts = events[3].data["artifacts"]
    assert [artifact["seed"] for artifact in artifacts] == [7, 8]
    assert artifacts == client.get(f"/api/v1/jobs/{job.id}").json["artifacts"]


def test_last_event_id_resumes_after_that_event(client, make_job):
    job = make_job("failed")
    events = events_of(stream(client, job.id).get_data(as_text=True))

    from_header = events_of(stream(client, job.id, headers={"Last-Event-ID": str(events[1].id)}).get_data(as_text=True))
    from_query = events_of(stream(client, job.id, query_string={"last_event_id": events[1].id}).get_data(as_text=True))

    assert from_header == from_query == events[2:]
    assert from_header[-2].data["error"] == {"code": "oom", "message": "CUDA ran out of memory"}


def test_after_done_the_stream_answers_204_so_the_browser_stops(client, make_job):
    job = make_job("succeeded")
    events = events_of(stream(client, job.id).get_data(as_text=True))
    assert stream(client, job.id, headers={"Last-Event-ID": str(events[-1].id)}).status_code == 204


def test_bad_last_event_id_unknown_and_foreign_jobs_are_refused(client, client_for, make_job):
    job = make_job()
    for bad in ("soon", "²", "9" * 19):  # not a number, not ASCII, past bigint
        response = stream(client, job.id, query_string={"last_event_id": bad})
        assert response.status_code == 400 and response.json["error"]["code"] == "invalid_last_event_id"
    assert stream(client, uuid.uuid4()).status_code == 404
    assert stream(client_for("mallory"), job.id).status_code == 404


@pytest.fixture
def app_with(settings, api_key):
    """A client of an app built with changed settings."""
    apps = []

    def make(**changes):
        app = create_app(settings.model_copy(update=changes))
        apps.append(app)
        return authenticated_client(app, api_key)

    yield make
    for app in apps:
        close_app(app)


def test_a_waiting_jobs_stream_ends_after_its_time_limit(app_with, make_job):
    client = app_with(event_stream_seconds=1.0, event_poll_seconds=0.1)
    make_job()
    job = make_job()

    started = time.monotonic()
    text = stream(client, job.id).get_data(as_text=True)

    assert 0.9 < time.monotonic() - started < 5
    events = events_of(text)
    assert [(event.type, event.data) for event in events] == [
        ("status", {"status": "queued"}),
        ("queue", {"queue_position": 1, "queue_paused": False, "eta_seconds": None, "eta_p90_seconds": None}),
    ]
    assert events[1].id is None  # not stored: resuming skips nothing


def test_a_running_job_whose_attempt_wrote_nothing_yet_is_streamed_as_running_from_its_row(app_with, make_job, session):
    client = app_with(event_stream_seconds=1.0, event_poll_seconds=0.1)
    job = make_job()
    jobs.claim_job(session, job.id, worker_id="w1")  # the attempt's `running` event is not written yet
    session.commit()

    events = events_of(stream(client, job.id).get_data(as_text=True))

    assert [(event.id, event.type, event.data.get("status")) for event in events] == [
        (0, "status", "queued"),
        (None, "status", "running"),
        (None, "queue", None),
    ]
    assert events[1].data == {"status": "running", "attempt": 1}


def test_a_stream_resumed_after_the_stored_running_event_does_not_tell_it_again(app_with, make_job, session):
    client = app_with(event_stream_seconds=1.0, event_poll_seconds=0.1)
    job = make_job()
    claimed = jobs.claim_job(session, job.id, worker_id="w1")
    jobs.record_reports(session, job.id, claimed.attempt, progress=(1, 9), opening=True)
    session.commit()
    [_created, running, progress] = events_of(stream(client, job.id).get_data(as_text=True))[:3]
    assert (running.data, progress.type) == ({"status": "running", "attempt": 1}, "progress")

    resumed = events_of(stream(client, job.id, headers={"Last-Event-ID": str(progress.id)}).get_data(as_text=True))

    assert [event.type for event in resumed] == ["queue"]


def test_a_retried_job_with_a_backlog_is_told_running_after_its_history(app_with, make_job, session, monkeypatch):
    monkeypatch.setattr(importlib.import_module("web.api.events"), "EVENTS_PER_POLL", 3)
    client = app_with(event_stream_seconds=1.0, event_poll_seconds=0.1)
    job = make_job()
    first = jobs.claim_job(session, job.id, worker_id="w1")
    for step in range(1, 6):
        jobs.record_reports(session, job.id, first.attempt, progress=(step, 9), opening=step == 1)
    assert retry_job(session, job.id, first.attempt, code="oom", message="out of memory", delay_seconds=0) == "queued"
    jobs.claim_job(session, job.id, worker_id="w2")  # attempt 2 has written nothing yet
    session.commit()

    events = events_of(stream(client, job.id).get_data(as_text=True))

    statuses = [(event.data["status"], event.data.get("attempt")) for event in events if event.type == "status"]
    assert statuses == [("queued", None), ("running", 1), ("queued", 1), ("running", 2)]
    told = [event for event in events if event.type == "status" and event.data.get("attempt") == 2]
    assert [event.id for event in told] == [None]  # from the row, after the whole history


def test_a_process_serves_only_so_many_streams_at_once(app_with, make_job):
    client = app_with(max_event_streams=1)
    job = make_job()

    first = stream(client, job.id, buffered=False)
    refused = stream(client, job.id)
    assert first.status_code == 200
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 2
    assert refused.json["error"]["code"] == "too_many_streams"

    first.close()
    again = stream(client, job.id, buffered=False)
    assert again.status_code == 200
    again.close()


def read_until(chunks, wanted):
    """The events of the stream's chunks, read until `wanted(events)` holds (or the stream ends)."""
    text = ""
    for chunk in chunks:
        text += chunk.decode()
        if wanted(events_of(text)):
            break
    return events_of(text)


def test_a_queued_jobs_stream_is_told_its_new_place_when_the_job_ahead_leaves(app_with, make_job):
    client = app_with(event_stream_seconds=10.0)
    ahead, job = make_job(), make_job()
    response = stream(client, job.id, buffered=False)
    chunks = iter(response.response)

    def places(events):
        return [event.data["queue_position"] for event in events if event.type == "queue"]

    assert places(read_until(chunks, places)) == [1]
    assert client.post(f"/api/v1/jobs/{ahead.id}/cancel").status_code == 200
    assert places(read_until(chunks, places)) == [0]  # pushed by the position board, no read of its own
    response.close()
