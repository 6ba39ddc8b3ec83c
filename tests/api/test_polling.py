"""Polling a job, the API's most frequent call: it costs the key's lookup and one
query for a finished job, and still checks the key and counts the request against
the key's rate limit every time."""

import time

from sqlalchemy import event

from db.accounts import revoke_api_key
from tests.api.conftest import authenticated_client


def test_polling_a_finished_job_costs_the_key_and_one_query(client, platform, make_job):
    job = make_job("succeeded", images=3)
    client.get(f"/api/v1/jobs/{job.id}")  # the key's first use is written (last_used_at)
    statements = []

    def record(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(platform.engine, "before_cursor_execute", record)
    try:
        response = client.get(f"/api/v1/jobs/{job.id}")
    finally:
        event.remove(platform.engine, "before_cursor_execute", record)

    assert response.status_code == 200 and len(response.json["artifacts"]) == 3
    assert len(statements) == 2, statements
    assert "FROM api_keys" in statements[0]
    assert "FROM jobs LEFT OUTER JOIN artifacts" in statements[1]


def test_a_key_revoked_between_two_polls_is_refused_on_the_second(client, api_key, session, make_job):
    job = make_job("succeeded")
    assert client.get(f"/api/v1/jobs/{job.id}").status_code == 200

    assert revoke_api_key(session, api_key[:16])
    session.commit()

    assert client.get(f"/api/v1/jobs/{job.id}").status_code == 401


def test_every_poll_counts_against_the_keys_rate_limit(make_api_key, app, make_job, owner):
    job = make_job("succeeded")
    poller = authenticated_client(app, make_api_key(owner, requests_per_minute=2))
    before = time.time()

    answers = [poller.get(f"/api/v1/jobs/{job.id}") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["1", "0", "0"]
    # The window opened at the first request and closes within a minute of it.
    assert before < int(answers[0].headers["X-RateLimit-Reset"]) <= before + 61
    assert len({answer.headers["X-RateLimit-Reset"] for answer in answers}) == 1
