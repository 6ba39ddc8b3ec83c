"""GET /api/v1/openapi.json describes every /api/v1 route and nothing else, with
this deployment's models and caps, and schemathesis can load it. The contract test
(tests/e2e/test_api_contract.py) keeps what it says true."""

import schemathesis

from tests.support.routes import CONVERTER, routes


def openapi_path(rule: str) -> str:
    return CONVERTER.sub(r"{\2}", rule.removeprefix("/api/v1"))


def test_the_document_names_every_api_route_and_no_other(app, client):
    document = client.get("/api/v1/openapi.json").json

    described = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = {(method, openapi_path(rule)) for method, rule in routes(app, "api")}
    assert described == served


def test_the_document_needs_a_key_like_every_api_route(anonymous_client):
    assert anonymous_client.get("/api/v1/openapi.json").status_code == 401


def test_the_document_carries_this_deployments_caps_and_models(client, settings):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]

    width = schemas["GenerateSpec"]["properties"]["width"]["anyOf"][0]
    assert (width["maximum"], width["multipleOf"]) == (settings.max_width, 8)
    assert schemas["GenerateSpec"]["properties"]["prompt"]["maxLength"] == settings.max_prompt_chars
    assert schemas["SpeechSpec"]["properties"]["text"]["maxLength"] == settings.max_speech_chars
    models = ["tiny-clip", "tiny-sd", "tiny-speech", "tiny-text"]
    assert schemas["SubmitRequest"]["properties"]["model"]["anyOf"][0]["enum"] == models
    assert schemas["SubmitRequest"]["additionalProperties"] is False


def test_every_operation_declares_bearer_auth_and_the_errors_it_can_answer(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key, gq_live_...",
    }
    assert document["security"] == [{"bearerAuth": []}]
    for item in document["paths"].values():
        for operation in item.values():
            assert {"401", "429"} <= set(operation["responses"])


def test_schemathesis_loads_every_operation(client):
    schema = schemathesis.openapi.from_dict(client.get("/api/v1/openapi.json").json)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in schema.raw_schema["paths"].values())
