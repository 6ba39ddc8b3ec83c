"""Who may call the API: every /api/v1 route needs a live key, and a missing,
malformed, unknown or revoked key all get the same 401; health checks stay open;
a key's last use is recorded without a write per request."""

import pytest
from sqlalchemy import select

from db.accounts import revoke_api_key
from db.models import ApiKey
from tests.support.routes import fill, routes

UNAUTHORIZED = {
    "error": {
        "code": "unauthorized",
        "message": "a valid API key is required: send the header Authorization: Bearer <key>",
    }
}


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.data
    assert response.json == UNAUTHORIZED
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_every_api_route_refuses_a_request_without_a_key(app, anonymous_client):
    checked = []
    for method, rule in routes(app, "api"):
        response = anonymous_client.open(fill(rule), method=method, json={})
        assert_unauthorized(response)
        checked.append((method, rule))
    assert ("POST", "/api/v1/jobs") in checked and ("GET", "/api/v1/jobs/<uuid:job_id>") in checked


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer gq_live_00000000_" + "A" * 43,  # well formed, unknown
        "Bearer not-a-genq-key",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "gq_live_00000000_" + "A" * 43,  # no scheme
    ],
    ids=["unknown", "malformed", "empty", "basic", "no scheme"],
)
def test_a_bad_authorization_header_is_the_same_401(anonymous_client, authorization):
    assert_unauthorized(anonymous_client.get("/api/v1/jobs", headers={"Authorization": authorization}))


def test_a_key_with_a_wrong_secret_is_refused(anonymous_client, api_key):
    prefix, _, secret = api_key.rpartition("_")
    tampered = f"{prefix}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    assert_unauthorized(anonymous_client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {tampered}"}))


def test_a_revoked_key_gets_the_same_401_as_an_unknown_one(client, api_key, session):
    assert client.get("/api/v1/jobs").status_code == 200
    assert revoke_api_key(session, api_key[:16])
    session.commit()
    assert_unauthorized(client.get("/api/v1/jobs"))


def test_the_scheme_is_case_insensitive(anonymous_client, api_key):
    response = anonymous_client.get("/api/v1/models", headers={"Authorization": f"bearer {api_key}"})
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/static/style.css", "/signin"])
def test_health_checks_static_files_and_the_signin_page_need_no_key(anonymous_client, path):
    assert anonymous_client.get(path).status_code == 200


def test_a_page_without_a_session_redirects_to_signin(anonymous_client):
    response = anonymous_client.get("/jobs?status=queued")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signin?next=/jobs?status%3Dqueued"


def test_last_used_is_recorded_once_a_minute_not_per_request(client, session):
    assert client.get("/api/v1/models").status_code == 200
    first = session.scalars(select(ApiKey)).one().last_used_at
    assert first is not None

    assert client.get("/api/v1/models").status_code == 200
    session.expire_all()
    assert session.scalars(select(ApiKey)).one().last_used_at == first
