"""Every API failure has the JSON error shape and no internals; HTML paths get
HTML error pages; every response carries the security headers."""

import logging

import pytest


def test_an_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.is_json and response.json["error"]["code"] == "not_found"


def test_a_wrong_method_is_a_json_405_with_allow(client):
    response = client.delete("/api/v1/jobs")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


@pytest.fixture
def failing_app(app):
    def explode():
        raise RuntimeError("secret detail at /srv/genq/db.py line 3")

    app.add_url_rule("/api/v1/explode", view_func=explode)
    app.add_url_rule("/explode", endpoint="explode_page", view_func=explode)
    return app


def test_an_unexpected_api_error_is_a_generic_json_500_and_is_logged(failing_app, client, caplog):
    with caplog.at_level(logging.ERROR, logger="web.errors"):
        response = client.get("/api/v1/explode")

    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal_error"
    assert b"secret detail" not in response.data and b"Traceback" not in response.data
    assert "secret detail" in caplog.text


def test_an_unexpected_page_error_is_an_html_500_without_details(failing_app, client):
    response = client.get("/explode")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert b"secret detail" not in response.data


def test_an_unknown_page_is_an_html_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html" and b'id="error-title"' in response.data


@pytest.mark.parametrize("path", ["/", "/api/v1/models", "/healthz", "/api/v1/nothing-here"])
def test_every_response_carries_the_security_headers(client, settings, path):
    headers = client.get(path).headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    # Presigned S3 image URLs point at the endpoint, so images may load from it.
    assert f"img-src 'self' data: {settings.s3_endpoint_url}" in policy
    # And presigned audio URLs (speech jobs), for the job page's player.
    assert f"media-src 'self' {settings.s3_endpoint_url}" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
