"""/healthz answers with no dependencies; /readyz names the dependency that is
down; /api/v1/models lists the registry and its default."""

import pytest

from tests.api.conftest import authenticated_client, close_app
from tests.support.services import free_port
from web import create_app


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_is_200_with_everything_up(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok", "storage": "ok"},
    }


@pytest.mark.parametrize(
    "broken, down",
    [
        (lambda settings: {"broker_url": f"redis://127.0.0.1:{free_port()}/0"}, "broker"),
        (lambda settings: {"storage_url": "s3://no-such-bucket"}, "storage"),
        (
            lambda settings: {"database_url": settings.database_url.rsplit("/", 1)[0] + "/no_such_database"},
            "database",
        ),
    ],
    ids=["broker", "storage", "database"],
)
def test_readyz_is_503_naming_what_is_down(settings, broken, down):
    app = create_app(settings.model_copy(update=broken(settings)))
    try:
        response = app.test_client().get("/readyz")
    finally:
        close_app(app)

    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert {name for name, state in response.json["checks"].items() if state != "ok"} == {down}


def test_healthz_does_not_depend_on_the_broker(settings):
    app = create_app(settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"}))
    try:
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        close_app(app)


def test_models_lists_the_registry_with_kinds_and_defaults(client):
    assert client.get("/api/v1/models").json == {
        "models": [
            {"name": "tiny-clip", "origin": "local", "kind": "clip", "default": True},
            {"name": "tiny-sd", "origin": "local", "kind": "image", "default": True},
            {"name": "tiny-speech", "origin": "local", "kind": "speech", "default": True},
            {"name": "tiny-text", "origin": "local", "kind": "text", "default": True},
        ],
        "default": "tiny-sd",
        "defaults": {"image": "tiny-sd", "text": "tiny-text", "speech": "tiny-speech", "clip": "tiny-clip"},
    }


def test_a_directory_without_a_model_is_not_listed(settings, api_key, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "config.json").write_text('{"architectures": ["BertModel"]}')
    app = create_app(settings.model_copy(update={"models_dir": tmp_path}))
    try:
        models = authenticated_client(app, api_key).get("/api/v1/models").json
    finally:
        close_app(app)

    assert models == {
        "models": [],
        "default": None,
        "defaults": {"image": None, "text": None, "speech": None, "clip": None},
    }


def test_models_include_hub_ids_and_a_configured_default(settings, api_key):
    hub = {"hub_models": ["org/sd-model"], "default_model": "org/sd-model"}
    app = create_app(settings.model_copy(update=hub))
    try:
        models = authenticated_client(app, api_key).get("/api/v1/models").json
    finally:
        close_app(app)

    assert models["default"] == "org/sd-model"
    assert {(m["name"], m["origin"], m["kind"], m["default"]) for m in models["models"]} == {
        ("tiny-sd", "local", "image", False),
        ("tiny-text", "local", "text", True),
        ("tiny-speech", "local", "speech", True),
        ("tiny-clip", "local", "clip", True),
        ("org/sd-model", "hub", "image", True),
    }
