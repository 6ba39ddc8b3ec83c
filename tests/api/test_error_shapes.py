"""One error path: whatever refuses a request (no such route, a wrong method, no
key, too many requests, the database down, a refused job), the answer comes in the
error shape of the API its path is under, genq's under /api/v1, OpenAI's under /v1,
AUTOMATIC1111's under /sdapi/v1; and the pages show a refused job with the same status."""

import pytest
from markupsafe import escape

from tests.api.conftest import authenticated_client, close_app
from tests.support.forms import csrf_token
from tests.support.services import free_port
from web import create_app

PREFIXES = ("/api/v1", "/v1", "/sdapi/v1")
# A route of each API that answers GET with the caller's key, and one that takes only POST.
READ_PATHS = {"/api/v1": "/api/v1/models", "/v1": "/v1/models", "/sdapi/v1": "/sdapi/v1/sd-models"}
POST_ONLY_PATHS = {
    "/api/v1": "/api/v1/jobs/{id}/cancel",
    "/v1": "/v1/images/generations",
    "/sdapi/v1": "/sdapi/v1/txt2img",
}


def error_code(prefix: str, response) -> str:
    """The genq code of an error answer, checking that it has the prefix's shape."""
    assert response.is_json, response.get_data(as_text=True)
    body = response.json
    if prefix == "/api/v1":
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]) <= {"code", "message", "details"}
        return body["error"]["code"]
    if prefix == "/v1":
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["type"] == ("invalid_request_error" if response.status_code < 500 else "server_error")
        return body["error"]["code"]
    assert set(body) == {"error", "detail"}
    return body["error"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_an_unknown_path_is_a_json_404_in_the_prefix_shape(client, prefix):
    response = client.get(f"{prefix}/nothing-here")

    assert response.status_code == 404
    assert error_code(prefix, response) == "not_found"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_wrong_method_is_a_json_405_in_the_prefix_shape_with_allow(client, prefix):
    path = POST_ONLY_PATHS[prefix].format(id="00000000-0000-0000-0000-000000000000")

    response = client.get(path)

    assert response.status_code == 405
    assert error_code(prefix, response) == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_call_without_a_key_is_a_401_in_the_prefix_shape(anonymous_client, prefix):
    response = anonymous_client.get(READ_PATHS[prefix])

    assert response.status_code == 401
    assert error_code(prefix, response) == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_call_over_the_requests_per_minute_is_a_429_in_the_prefix_shape(client_for, prefix):
    caller = client_for("carol", requests_per_minute=1)
    assert caller.get(READ_PATHS[prefix]).status_code == 200

    response = caller.get(READ_PATHS[prefix])

    assert response.status_code == 429
    assert error_code(prefix, response) == "rate_limit_exceeded"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("prefix", PREFIXES)
def test_with_the_database_down_every_prefix_answers_503_in_its_shape(settings, api_key, prefix):
    app = create_app(
        settings.model_copy(update={"database_url": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/genq"})
    )
    try:
        response = authenticated_client(app, api_key).get(READ_PATHS[prefix])
    finally:
        close_app(app)

    assert response.status_code == 503
    assert error_code(prefix, response) == "database_unavailable"
    assert response.headers["Retry-After"] == "5"


def submit_everywhere(caller, model: str) -> dict[str, object]:
    """The same image job, submitted through each surface: {surface: response}."""
    prompt = {"prompt": "a red fox"}
    return {
        "/api/v1": caller.post("/api/v1/jobs", json={"model": model, "params": {**prompt, "width": 64, "height": 64}}),
        "/v1": caller.post("/v1/images/generations", json={**prompt, "model": model, "size": "64x64"}),
        "/sdapi/v1": caller.post(
            "/sdapi/v1/txt2img",
            json={**prompt, "width": 64, "height": 64, "override_settings": {"sd_model_checkpoint": model}},
        ),
        "page": caller.post(
            "/jobs", data={**prompt, "model": model, "width": "64", "height": "64", "csrf_token": csrf_token(caller)}
        ),
    }


def test_an_unknown_model_is_refused_alike_by_the_api_the_compatible_apis_and_the_form(client):
    answers = submit_everywhere(client, "no-such-model")

    api_error = answers["/api/v1"].json["error"]
    assert (answers["/api/v1"].status_code, api_error["code"]) == (422, "unknown_model")
    assert api_error["details"][0]["field"] == "model"
    for prefix in ("/v1", "/sdapi/v1"):
        assert (answers[prefix].status_code, error_code(prefix, answers[prefix])) == (422, "unknown_model")
    assert answers["/v1"].json["error"]["param"] == "model"
    page = answers["page"]
    assert page.status_code == 422
    assert f'id="error-model">{escape(api_error["details"][0]["message"])}<' in page.get_data(as_text=True)
    assert client.get("/api/v1/jobs").json["jobs"] == []


def test_a_job_over_the_keys_limit_is_refused_alike_by_every_surface_with_retry_after(client_for):
    ivan = client_for("ivan", max_active_jobs=1)
    assert ivan.post("/api/v1/jobs", json={"params": {"prompt": "the one job"}}).status_code == 202

    answers = submit_everywhere(ivan, "tiny-sd")

    for prefix in PREFIXES:
        assert (answers[prefix].status_code, error_code(prefix, answers[prefix])) == (429, "too_many_active_jobs")
        assert int(answers[prefix].headers["Retry-After"]) > 0
    # Nothing was made, so OpenAI's SDK may retry it after Retry-After.
    assert "x-should-retry" not in answers["/v1"].headers
    message = answers["/api/v1"].json["error"]["message"]
    assert answers["/v1"].json["error"]["message"] == answers["/sdapi/v1"].json["detail"] == message
    assert answers["page"].status_code == 429
    assert escape(message) in answers["page"].get_data(as_text=True)
    assert len(ivan.get("/api/v1/jobs").json["jobs"]) == 1
