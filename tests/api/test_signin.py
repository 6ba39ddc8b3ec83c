"""Browsers: sign in by pasting a key once (a signed, HttpOnly, SameSite=Lax
cookie holds the key's id, never the key), use the pages and the API with it
(unsafe API calls need the CSRF token), sign out; revoking the key signs the
browser out. `genq up`'s local sign-in works only for a loopback browser."""

import re

import pytest

from db.accounts import PREFIX_LENGTH, create_api_key, revoke_api_key
from tests.api.conftest import close_app
from tests.support.forms import csrf_token, sign_in
from web import create_app

JOB = {"params": {"prompt": "a red fox", "width": 64, "height": 64}}


def test_a_browser_signs_in_with_a_key_and_sees_its_pages(anonymous_client, api_key, owner):
    response = sign_in(anonymous_client, api_key, next_path="/jobs")

    assert response.status_code == 303 and response.headers["Location"] == "/jobs"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secret = api_key[PREFIX_LENGTH + 1 :]  # after "gq_live_<prefix>_"; it may hold "_" itself
    assert api_key not in cookie and secret not in cookie
    html = anonymous_client.get("/").get_data(as_text=True)
    assert f'<span id="signed-in-owner">{owner}</span>' in html


def test_the_session_cookie_is_secure_over_https(anonymous_client, api_key):
    token = csrf_token(anonymous_client, "/signin")
    response = anonymous_client.post(
        "/signin",
        data={"key": api_key, "next": "/", "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/signin"},
    )
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_key_is_shown_the_form_again(anonymous_client):
    response = sign_in(anonymous_client, "gq_live_00000000_nope")
    assert response.status_code == 422
    assert b'id="signin-error"' in response.data
    assert anonymous_client.get("/").status_code == 302


def test_signing_in_without_the_csrf_token_is_refused(anonymous_client, api_key):
    response = anonymous_client.post("/signin", data={"key": api_key})
    assert response.status_code == 400
    assert anonymous_client.get("/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_signin_never_redirects_off_the_site(anonymous_client, api_key, target):
    response = sign_in(anonymous_client, api_key, next_path=target)
    assert response.headers["Location"] == "/"


def test_a_signed_in_browser_reads_the_api_with_its_cookie(anonymous_client, api_key, make_job):
    job = make_job()
    sign_in(anonymous_client, api_key)
    assert anonymous_client.get(f"/api/v1/jobs/{job.id}").json["id"] == str(job.id)


def test_an_unsafe_api_call_by_cookie_needs_the_csrf_token(anonymous_client, api_key):
    sign_in(anonymous_client, api_key)

    refused = anonymous_client.post("/api/v1/jobs", json=JOB)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "csrf_failed"

    html = anonymous_client.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', html).group(1)
    accepted = anonymous_client.post("/api/v1/jobs", json=JOB, headers={"X-CSRFToken": token})
    assert accepted.status_code == 202


def test_revoking_the_key_signs_the_browser_out(anonymous_client, api_key, session):
    sign_in(anonymous_client, api_key)
    assert anonymous_client.get("/").status_code == 200

    revoke_api_key(session, api_key[:16])
    session.commit()

    assert anonymous_client.get("/").status_code == 302
    assert anonymous_client.get("/api/v1/jobs").status_code == 401


def test_signing_out_ends_the_session(anonymous_client, api_key):
    sign_in(anonymous_client, api_key)
    token = csrf_token(anonymous_client, "/")
    response = anonymous_client.post("/signout", data={"csrf_token": token})

    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert anonymous_client.get("/").status_code == 302
    assert anonymous_client.get("/api/v1/jobs").status_code == 401


@pytest.fixture
def local_app(settings, session):
    """The app as `genq up` runs it: loopback browsers are signed in as `local`."""
    create_api_key(session, owner="local")
    session.commit()
    app = create_app(settings.model_copy(update={"local_signin_owner": "local"}))
    yield app
    close_app(app)


def test_embedded_mode_signs_a_loopback_browser_in_as_the_local_owner(local_app):
    browser = local_app.test_client()
    html = browser.get("/", base_url="http://127.0.0.1:8000").get_data(as_text=True)
    assert '<span id="signed-in-owner">local</span>' in html
    # The page's script then reads the API with the session cookie.
    assert browser.get("/api/v1/jobs", base_url="http://127.0.0.1:8000").status_code == 200


@pytest.mark.parametrize(
    "base_url, remote_addr",
    [
        ("http://genq.example", "127.0.0.1"),  # DNS rebinding: loopback peer, foreign host
        ("http://127.0.0.1:8000", "192.0.2.7"),  # another machine
    ],
)
def test_embedded_mode_signs_in_no_one_else(local_app, base_url, remote_addr):
    browser = local_app.test_client()
    response = browser.get("/", base_url=base_url, environ_base={"REMOTE_ADDR": remote_addr})
    assert response.status_code == 302


def test_embedded_mode_never_lets_the_api_in_without_a_key(local_app):
    response = local_app.test_client().get("/api/v1/jobs", base_url="http://127.0.0.1:8000")
    assert response.status_code == 401


def test_production_has_no_local_signin(app):
    response = app.test_client().get("/", base_url="http://127.0.0.1:8000")
    assert response.status_code == 302
