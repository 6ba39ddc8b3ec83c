"""Queue administration through the API: admin keys pause and resume a kind's queue
(jobs are still accepted; their queue_position stays, their ETA says paused), see
every queue and cancel all of an owner's jobs; to other keys the routes do not
exist (404). Owners retry their own failed or canceled jobs and move queued ones
within their turn by priority."""

import re
import uuid

import pytest

from db import jobs
from db.accounts import create_api_key
from tests.api.conftest import authenticated_client
from tests.support.forms import csrf_token


@pytest.fixture
def admin(app, platform):
    with platform.sessions() as session:
        _key, raw_key = create_api_key(session, owner="operator", admin=True)
        session.commit()
    return authenticated_client(app, raw_key)


def _queue(admin, kind: str) -> dict:
    response = admin.get("/api/v1/admin/queues")
    assert response.status_code == 200
    return next(queue for queue in response.json["queues"] if queue["kind"] == kind)


def test_a_paused_queue_still_accepts_jobs_and_says_it_is_paused(admin, client, queued_job_ids):
    paused = admin.post("/api/v1/admin/queues/generate/pause")
    assert paused.status_code == 200
    assert paused.json["paused"] is True

    submitted = client.post("/api/v1/jobs", json={"params": {"prompt": "a lighthouse", "steps": 2}})
    assert submitted.status_code == 202
    job = client.get(f"/api/v1/jobs/{submitted.json['id']}").json
    assert (job["status"], job["queue_position"], job["queue_paused"], job["eta_seconds"]) == ("queued", 0, True, None)
    assert _queue(admin, "generate")["queued"] == 1

    resumed = admin.post("/api/v1/admin/queues/generate/resume")
    assert resumed.status_code == 200 and resumed.json["paused"] is False
    assert client.get(f"/api/v1/jobs/{job['id']}").json["queue_paused"] is False
    # The wake-up the paused job was owed leaves with the resume.
    assert queued_job_ids().count(job["id"]) >= 1


def test_admin_routes_do_not_exist_for_other_keys(client, anonymous_client):
    for method, path in [
        ("get", "/api/v1/admin/queues"),
        ("post", "/api/v1/admin/queues/generate/pause"),
        ("post", "/api/v1/admin/queues/generate/resume"),
        ("post", "/api/v1/admin/owners/local/cancel"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 404, path
        assert response.json["error"]["code"] == "not_found"
        assert getattr(anonymous_client, method)(path).status_code == 401


def test_an_unknown_kind_is_not_found(admin):
    assert admin.post("/api/v1/admin/queues/nonsense/pause").status_code == 404


def test_an_admin_cancels_every_active_job_of_an_owner(admin, make_job, client):
    queued, running, done = make_job(), make_job("running"), make_job("succeeded")
    others = make_job(owner="bob")

    response = admin.post(f"/api/v1/admin/owners/{queued.owner}/cancel")

    assert response.status_code == 200
    assert response.json == {"owner": queued.owner, "canceled": 2}
    assert client.get(f"/api/v1/jobs/{queued.id}").json["status"] == "canceled"
    assert client.get(f"/api/v1/jobs/{running.id}").json["cancel_requested"] is True
    assert client.get(f"/api/v1/jobs/{done.id}").json["status"] == "succeeded"
    assert _queue(admin, "generate")["queued"] == 1  # bob's
    assert others.status == "queued"


def test_a_failed_job_is_retried_as_a_new_job_linked_to_it(client, session):
    body = {"params": {"prompt": "a lighthouse", "steps": 3, "seed": 11}, "priority": 2}
    failed = client.post("/api/v1/jobs", json=body).json
    claimed = jobs.claim_job(session, uuid.UUID(failed["id"]), worker_id="test-worker")
    assert jobs.fail_job(session, claimed.id, claimed.attempt, code="oom", message="CUDA ran out of memory")
    session.commit()

    response = client.post(f"/api/v1/jobs/{failed['id']}/retry")

    assert response.status_code == 202
    retry = response.json
    assert retry["id"] != failed["id"] and retry["retry_of"] == failed["id"]
    assert (retry["status"], retry["params"], retry["model"], retry["priority"]) == (
        "queued",
        failed["params"],
        failed["model"],
        2,
    )
    assert response.headers["Location"].endswith(f"/api/v1/jobs/{retry['id']}")


def test_a_retry_with_an_idempotency_key_makes_one_job(client, make_job):
    canceled = make_job()
    client.post(f"/api/v1/jobs/{canceled.id}/cancel")
    headers = {"Idempotency-Key": "retry-1"}

    first = client.post(f"/api/v1/jobs/{canceled.id}/retry", headers=headers)
    again = client.post(f"/api/v1/jobs/{canceled.id}/retry", headers=headers)

    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json["id"] == again.json["id"]


def test_only_the_owners_failed_or_canceled_jobs_are_retried(client, make_job):
    for status in ("queued", "running", "succeeded"):
        response = client.post(f"/api/v1/jobs/{make_job(status).id}/retry")
        assert response.status_code == 409
        assert response.json["error"]["code"] == "job_not_retryable"
    assert client.post(f"/api/v1/jobs/{make_job('failed', owner='bob').id}/retry").status_code == 404


def test_a_queued_job_moves_within_its_owners_turn_by_priority(client, make_job):
    first, second = make_job(), make_job()
    assert client.get(f"/api/v1/jobs/{second.id}").json["queue_position"] == 1

    response = client.patch(f"/api/v1/jobs/{second.id}", json={"priority": 5})

    assert response.status_code == 200
    assert (response.json["priority"], response.json["queue_position"]) == (5, 0)
    assert client.get(f"/api/v1/jobs/{first.id}").json["queue_position"] == 1


def test_a_priority_change_is_checked(client, make_job):
    queued, running = make_job(), make_job("running")

    too_high = client.patch(f"/api/v1/jobs/{queued.id}", json={"priority": 11})
    assert too_high.status_code == 422
    assert too_high.json["error"]["details"][0]["field"] == "priority"
    assert client.patch(f"/api/v1/jobs/{queued.id}", json={"color": "red"}).status_code == 422
    not_queued = client.patch(f"/api/v1/jobs/{running.id}", json={"priority": 1})
    assert (not_queued.status_code, not_queued.json["error"]["code"]) == (409, "job_not_queued")
    assert client.patch(f"/api/v1/jobs/{make_job(owner='bob').id}", json={"priority": 1}).status_code == 404


def test_the_admin_page_pauses_and_resumes_a_queue_and_cancels_an_owners_jobs(admin, client, make_job):
    html = admin.get("/admin").get_data(as_text=True)
    assert 'data-kind="generate"' in html and 'href="/admin"' in html
    token = csrf_token(admin, "/admin")

    paused = admin.post("/admin/queues/generate/pause", data={"csrf_token": token})
    assert paused.status_code == 303
    row = re.search(r'data-kind="generate">.*?</tr>', admin.get("/admin").get_data(as_text=True), re.S).group(0)
    assert '<td class="state">paused</td>' in row and "Resume" in row
    admin.post("/admin/queues/generate/resume", data={"csrf_token": token})
    assert _queue(admin, "generate")["paused"] is False

    job = make_job()
    canceled = admin.post("/admin/owners/cancel", data={"csrf_token": token, "owner": job.owner}, follow_redirects=True)
    assert f"Canceled 1 job(s) of {job.owner}" in canceled.get_data(as_text=True)
    assert client.get(f"/api/v1/jobs/{job.id}").json["status"] == "canceled"


def test_the_admin_page_does_not_exist_for_other_keys(client):
    response = client.get("/admin")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert 'href="/admin"' not in client.get("/").get_data(as_text=True)
