"""Reading jobs back: one job's JSON, the newest-first list with filters and
cursor pagination, and only ever the owner's own jobs."""

import base64
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from db.models import Job
from tests.support.statements import counted_statements


def test_a_job_reads_back_with_every_documented_field(client):
    submitted = client.post("/api/v1/jobs", json={"params": {"prompt": "a red fox"}}).json

    response = client.get(f"/api/v1/jobs/{submitted['id']}")

    assert response.status_code == 200
    job = response.json
    assert job == submitted
    assert list(job) == [
        "id",
        "kind",
        "model",
        "status",
        "cancel_requested",
        "priority",
        "retry_of",
        "progress",
        "loss",
        "queue_position",
        "queue_paused",
        "eta_seconds",
        "eta_p90_seconds",
        "attempt",
        "params",
        "result",
        "artifacts",
        "webhook",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    ]
    assert job["progress"] == {"step": 0, "total": 0, "fraction": 0.0}
    assert job["loss"] is None  # a training job's latest loss
    assert (job["retry_of"], job["queue_paused"]) == (None, False)
    assert job["queue_position"] == 0 and job["attempt"] == 0
    assert job["artifacts"] == [] and job["error"] is None
    assert job["result"] is None  # an evaluation's figures
    assert job["created_at"].endswith("Z") and datetime.fromisoformat(job["created_at"]).tzinfo == UTC
    assert job["started_at"] is None and job["finished_at"] is None


def test_queue_position_counts_the_jobs_ahead(client, make_job):
    first, second = make_job(), make_job()
    running = make_job("running")
    assert client.get(f"/api/v1/jobs/{first.id}").json["queue_position"] == 0
    assert client.get(f"/api/v1/jobs/{second.id}").json["queue_position"] == 1
    assert client.get(f"/api/v1/jobs/{running.id}").json["queue_position"] == 0


def test_a_running_job_reports_progress(client, make_job):
    job = client.get(f"/api/v1/jobs/{make_job('running').id}").json
    assert job["status"] == "running" and job["attempt"] == 1
    assert job["progress"] == {"step": 2, "total": 4, "fraction": 0.5}
    assert job["started_at"] is not None and job["finished_at"] is None


def test_a_failed_job_reports_its_error(client, make_job):
    job = client.get(f"/api/v1/jobs/{make_job('failed').id}").json
    assert job["status"] == "failed" and job["queue_position"] is None
    assert job["error"] == {"code": "oom", "message": "CUDA ran out of memory"}
    assert job["finished_at"] is not None


@pytest.mark.parametrize("path", [f"/api/v1/jobs/{uuid.uuid4()}", "/api/v1/jobs/not-a-uuid", "/api/v1/jobs/1"])
def test_unknown_and_malformed_ids_are_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_another_owners_job_is_not_found(client, make_job):
    job = make_job(owner="someone-else")
    assert client.get(f"/api/v1/jobs/{job.id}").status_code == 404
    assert client.get("/api/v1/jobs").json["jobs"] == []


def test_the_list_is_newest_first(client):
    ids = [client.post("/api/v1/jobs", json={"params": {"prompt": f"fox {n}"}}).json["id"] for n in range(3)]

    listed = client.get("/api/v1/jobs").json

    assert [job["id"] for job in listed["jobs"]] == ids[::-1]
    assert listed["next_cursor"] is None


def test_the_cursor_walks_every_job_once_even_with_equal_timestamps(client, make_job, session):
    jobs = [make_job() for _ in range(5)]
    # Same created_at for all: the order and the cursor must fall back on the id.
    session.execute(update(Job).values(created_at=datetime(2024, 1, 1, tzinfo=UTC)))
    session.commit()

    pages, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/jobs", query_string=query).json
        pages.append([job["id"] for job in page["jobs"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [2, 2, 1]
    assert sum(pages, []) == sorted((str(job.id) for job in jobs), reverse=True)


def test_a_full_last_page_hands_out_no_cursor(client, make_job):
    make_job(), make_job()
    page = client.get("/api/v1/jobs?limit=2").json
    assert len(page["jobs"]) == 2 and page["next_cursor"] is None


def test_the_list_filters_by_status_and_kind(client, make_job):
    queued, running, failed = make_job(), make_job("running"), make_job("failed")

    def listed(query: str) -> set[str]:
        response = client.get(f"/api/v1/jobs?{query}")
        assert response.status_code == 200
        return {job["id"] for job in response.json["jobs"]}

    assert listed("status=running") == {str(running.id)}
    assert listed("status=failed") == {str(failed.id)}
    assert listed("status=queued&kind=generate") == {str(queued.id)}
    assert listed("kind=generate") == {str(queued.id), str(running.id), str(failed.id)}
    assert listed("status=succeeded") == set()


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=done", "status"),
        ("kind=video", "kind"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
    ],
)
def test_invalid_list_arguments_are_422(client, query, field):
    response = client.get(f"/api/v1/jobs?{query}")
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == field


def _base64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        _base64url("not a cursor"),
        _base64url("2024-01-01T00:00:00+00:00|not-a-uuid"),
        _base64url(f"2024-01-01T00:00:00|{uuid.UUID(int=1)}"),  # no time zone
    ],
)
def test_a_bad_cursor_is_400(client, cursor):
    response = client.get("/api/v1/jobs", query_string={"cursor": cursor})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("path", ["/api/v1/jobs?limit=100", "/jobs"])
def test_a_page_of_jobs_costs_the_same_statements_however_many_jobs_it_shows(client, make_job, session, path):
    def statements_of_the_page() -> int:
        with counted_statements() as statements:
            assert client.get(path).status_code == 200
        return statements.count

    def add_jobs() -> None:
        for status in ("queued", "running", "succeeded", "failed"):
            job = make_job(status)
            session.execute(update(Job).where(Job.id == job.id).values(webhook_url="https://example.com/hook"))
        session.commit()

    add_jobs()
    statements_of_the_page()  # the first request of a key also records its use
    few = statements_of_the_page()
    for _ in range(6):
        add_jobs()
    assert statements_of_the_page() == few
