"""Idempotency-Key on submit, on Postgres: a repeat with the same body gets the
same job (200), another body is refused (422), keys are per owner, and many
requests racing with one key make one job."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from db.models import Job

BODY = {"kind": "generate", "params": {"prompt": "a red fox", "steps": 4}}


def submit(client, body=BODY, key="order-1001"):
    return client.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": key})


def job_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Job))


def test_the_same_key_and_body_give_the_same_job(client, session, queued_job_ids):
    first = submit(client)
    # The same JSON with its keys in another order is the same request.
    again = submit(client, {"params": {"steps": 4, "prompt": "a red fox"}, "kind": "generate"})

    assert first.status_code == 202 and again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert again.json["params"]["seed"] == first.json["params"]["seed"]
    assert again.headers["Location"] == first.headers["Location"]
    assert job_count(session) == 1
    assert queued_job_ids() == [first.json["id"]]  # the repeat sent no second message


def test_the_same_key_with_another_body_is_refused(client, session):
    first = submit(client)

    response = submit(client, {**BODY, "params": {"prompt": "a grey wolf"}})

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["details"] == [{"field": "headers.Idempotency-Key", "message": error["details"][0]["message"]}]
    assert job_count(session) == 1 and first.status_code == 202


def test_keys_belong_to_their_owner(client, client_for, session):
    mine = submit(client)
    theirs = submit(client_for("bob"))

    assert mine.status_code == theirs.status_code == 202
    assert mine.json["id"] != theirs.json["id"]
    assert job_count(session) == 2


def test_without_a_key_every_submit_is_a_new_job(client, session):
    ids = {client.post("/api/v1/jobs", json=BODY).json["id"] for _ in range(2)}
    assert len(ids) == 2


def test_a_malformed_key_is_refused(client, session):
    for key in ("k" * 256, "caf\u00e9"):
        response = client.post("/api/v1/jobs", json=BODY, headers={"Idempotency-Key": key.encode().decode("latin-1")})
        assert response.status_code == 422
        assert response.json["error"]["details"][0]["field"] == "headers.Idempotency-Key"
    assert job_count(session) == 0


def test_concurrent_submits_with_one_key_make_one_job(app, api_key, session):
    from tests.api.conftest import authenticated_client

    def submit_once(_):
        response = submit(authenticated_client(app, api_key), key="burst")
        return response.status_code, response.json["id"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(submit_once, range(20)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 19 + [202]
    assert len({job_id for _, job_id in results}) == 1
    assert job_count(session) == 1
