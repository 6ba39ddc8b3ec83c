"""Cancelling against a real worker process. This module's worker has a Redis db
of its own (so the session's worker cannot take these jobs) and writes progress
at every step, so the step a job was at when it was canceled is known exactly."""

from contextlib import ExitStack

import boto3
import pytest
import redis
from sqlalchemy import func, select

from db.kinds.generate import GENERATE_QUEUE
from db.models import Artifact
from db.session import make_session_factory
from tests.api.conftest import authenticated_client, close_app
from tests.support.processes import running_worker
from tests.support.services import flush_redis, redis_database
from tests.support.waiting import wait_for
from web import create_app

SLOW_PARAMS = {"prompt": "a long walk on the beach", "width": 64, "height": 64, "steps": 150, "seed": 9}


@pytest.fixture(scope="module")
def cancel_settings(platform_settings):
    with redis_database() as broker_url:
        yield platform_settings.model_copy(update={"broker_url": broker_url, "progress_interval_seconds": 0})


@pytest.fixture(scope="module")
def start_worker(cancel_settings, tmp_path_factory):
    """Starts this module's worker when first called; it then runs to the module's end."""
    with ExitStack() as stack:
        started = []

        def start():
            if not started:
                log = tmp_path_factory.mktemp("cancel-worker") / "worker.log"
                started.append(stack.enter_context(running_worker(cancel_settings, log)))

        yield start


@pytest.fixture
def client(settings, cancel_settings, api_key):
    flush_redis(cancel_settings.broker_url)
    app = create_app(cancel_settings)
    yield authenticated_client(app, api_key)
    close_app(app)


def finished(client, job_id: str) -> dict | None:
    job = client.get(f"/api/v1/jobs/{job_id}").json
    return job if job["finished_at"] else None


def unfinished_messages(broker_url: str) -> int:
    """Messages waiting in the queue or delivered and not yet acknowledged."""
    broker = redis.Redis.from_url(broker_url)
    return broker.llen(GENERATE_QUEUE) + broker.hlen("unacked")


def test_a_canceled_queued_job_is_skipped_by_the_worker(client, cancel_settings, start_worker):
    canceled = client.post("/api/v1/jobs", json={"params": SLOW_PARAMS}).json
    assert client.post(f"/api/v1/jobs/{canceled['id']}/cancel").json["status"] == "canceled"
    later = client.post("/api/v1/jobs", json={"params": {**SLOW_PARAMS, "steps": 2}}).json

    start_worker()

    assert wait_for(lambda: finished(client, later["id"]), timeout=120)["status"] == "succeeded"
    wait_for(lambda: unfinished_messages(cancel_settings.broker_url) == 0, timeout=30, what="both messages handled")
    job = client.get(f"/api/v1/jobs/{canceled['id']}").json
    assert (job["status"], job["attempt"], job["started_at"]) == ("canceled", 0, None)
    assert job["progress"]["step"] == 0 and job["artifacts"] == []


def test_a_running_job_stops_within_a_step_and_keeps_nothing(client, cancel_settings, start_worker):
    start_worker()
    job = client.post("/api/v1/jobs", json={"params": SLOW_PARAMS}).json

    def past_step_five():
        current = client.get(f"/api/v1/jobs/{job['id']}").json
        return current if current["progress"]["step"] >= 5 else None

    wait_for(past_step_five, timeout=120, what="the job to be a few steps in")
    response = client.post(f"/api/v1/jobs/{job['id']}/cancel")
    # Read after the worker was signalled: the step it was at, give or take the one in flight.
    step_when_canceled = response.json["progress"]["step"]

    assert response.status_code == 202 and response.json["cancel_requested"] is True
    done = wait_for(lambda: finished(client, job["id"]), timeout=60, what="the job to stop")
    assert done["status"] == "canceled" and done["artifacts"] == []
    assert done["progress"]["step"] < done["progress"]["total"] == 150
    # The step in flight, plus one whose progress write waited behind the cancel's
    # row lock, plus one of slack for a loaded 2-core CI machine: not 150.
    assert step_when_canceled <= done["progress"]["step"] <= step_when_canceled + 3
    sessions = make_session_factory(cancel_settings.database_url)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Artifact)) == 0
    sessions.kw["bind"].dispose()
    s3 = boto3.client("s3", endpoint_url=cancel_settings.s3_endpoint_url)
    bucket = cancel_settings.storage_url.removeprefix("s3://")
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"jobs/{job['id']}/")["KeyCount"] == 0
