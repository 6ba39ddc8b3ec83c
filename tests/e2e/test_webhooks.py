"""Webhooks on the production shape: a real `genq webhooks` delivers a signed POST
of the job to a receiver in this test (an http.server thread on loopback,
allowlisted in the test settings), retries one that fails, recording every
attempt, and sends `running` while the job runs on the one job worker."""

import hashlib
import hmac
import json
import time

import requests

from tests.support.http import moment, submit, wait_until_finished
from tests.support.waiting import wait_for
from tests.support.webhooks import receiver

PARAMS = {"prompt": "a kite over the dunes", "width": 64, "height": 64, "steps": 3, "seed": 11}


def webhook_secret(platform) -> str:
    return requests.get(f"{platform}/api/v1/webhook-secret", headers=platform.headers, timeout=10).json()["secret"]


def test_a_finished_job_is_posted_signed_to_its_webhook(platform):
    with receiver([]) as (url, received):
        job = submit(platform, PARAMS, webhook_url=url, webhook_events=["running", "succeeded"])
        assert wait_until_finished(platform, job["id"])["status"] == "succeeded"
        wait_for(lambda: len(received) == 2, timeout=30, what="two deliveries")

    by_event = {request["headers"]["Genq-Event"]: request for request in received}
    assert set(by_event) == {"running", "succeeded"}
    delivery = by_event["succeeded"]
    assert delivery["path"] == "/hooks/genq?team=7"
    headers = delivery["headers"]
    assert headers["Content-Type"] == "application/json"
    assert (headers["Genq-Event"], headers["Genq-Delivery"]) == ("succeeded", f"{job['id']}.succeeded")
    timestamp, digest = (part.split("=", 1)[1] for part in headers["Genq-Signature"].split(","))
    expected = hmac.new(webhook_secret(platform).encode(), f"{timestamp}.".encode() + delivery["body"], hashlib.sha256)
    assert hmac.compare_digest(digest, expected.hexdigest())
    assert abs(time.time() - int(timestamp)) < 60
    body = json.loads(delivery["body"])
    assert (body["id"], body["status"]) == (job["id"], "succeeded")
    assert body["artifacts"][0]["seed"] == 11


def test_a_failing_receiver_is_retried_and_every_attempt_is_recorded(platform):
    with receiver([500, 500]) as (url, received):
        job = submit(platform, PARAMS, webhook_url=url)
        wait_until_finished(platform, job["id"])

        def three_deliveries():
            current = requests.get(f"{platform}/api/v1/jobs/{job['id']}", headers=platform.headers, timeout=10).json()
            return current if len(current["webhook"]["deliveries"]) == 3 else None

        deliveries = wait_for(three_deliveries, timeout=60, what="three attempts")["webhook"]["deliveries"]

    assert [(d["event"], d["attempt"], d["status_code"]) for d in deliveries] == [
        ("succeeded", 1, 500),
        ("succeeded", 2, 500),
        ("succeeded", 3, 200),
    ]
    assert deliveries[0]["error"] == "the receiver answered 500" and deliveries[2]["error"] is None
    assert len(received) == 3
    assert len({request["headers"]["Genq-Delivery"] for request in received}) == 1


def test_the_running_delivery_arrives_while_the_job_runs(platform):
    # One job worker, busy with the job for a few seconds: the delivery does not wait for it.
    with receiver([]) as (url, received):
        job = submit(platform, {**PARAMS, "steps": 30}, webhook_url=url, webhook_events=["running"])
        wait_for(lambda: received, timeout=60, what="the running delivery")
        # Generous: the job's length is the point, and a loaded machine stretches it.
        done = wait_until_finished(platform, job["id"], timeout=300)

    (delivery,) = received
    assert delivery["headers"]["Genq-Event"] == "running"
    assert json.loads(delivery["body"])["status"] == "running"
    assert done["status"] == "succeeded"
    assert delivery["arrived"] < moment(done["finished_at"])
