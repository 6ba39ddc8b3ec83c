"""Whatever a client sends, a compatible endpoint answers in its API's error shape
with a 4xx, never a 500 or a stream cut short: odd types where the APIs allow
several, and jobs that fail because of what the caller sent."""

import json
import uuid

import pytest
import requests

from db.models import Job
from tests.compat.conftest import TEXT_MODEL
from web.compat.chat import chat_messages
from web.compat.errors import CompatError
from web.compat.jobs import succeeded


def test_chat_content_parts_without_text_leave_no_text_and_raise_nothing():
    parts = [{"type": "text", "text": 5}, {"type": "text", "text": None}, {"type": "text", "text": "hi"}, "x"]

    assert chat_messages([{"role": "user", "content": parts}]) == [{"role": "user", "content": "hi"}]


def test_a1111_override_settings_that_are_not_an_object_are_a_422(in_process_client):
    response = in_process_client.post(
        "/sdapi/v1/txt2img", json={"prompt": "a boat", "width": 64, "height": 64, "override_settings": "x"}
    )

    assert response.status_code == 422
    assert response.json == {"error": "validation_error", "detail": "override_settings: must be an object"}


def test_a_streamed_completion_with_n_as_a_string_streams_every_output(platform):
    body = {"model": TEXT_MODEL, "prompt": "hi", "n": "2", "max_tokens": 4, "seed": 3, "stream": True}
    response = requests.post(f"{platform}/v1/completions", json=body, headers=platform.headers, timeout=120)

    chunks = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert chunks[-1] == "[DONE]"
    decoded = [json.loads(chunk) for chunk in chunks[:-1]]
    assert not [chunk for chunk in decoded if "error" in chunk]
    finished = {chunk["choices"][0]["index"] for chunk in decoded if chunk["choices"][0]["finish_reason"] is not None}
    assert finished == {0, 1}


def test_a_job_failed_by_its_own_params_is_the_callers_422_and_a_worker_fault_a_500():
    def failure(code: str) -> CompatError:
        job = Job(id=uuid.uuid4(), status="failed", error_code=code, error_message="...")
        try:
            succeeded(job)
        except CompatError as error:
            return error
        raise AssertionError("a failed job must raise")

    assert failure("invalid_params").status == 422
    assert failure("adapter_model_mismatch").status == 422
    assert failure("oom").status == 500


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/images/generations", {"prompt": "a boat", "response_format": "gif"}, "response_format"),
        ("/v1/images/generations", {"prompt": "a boat", "size": "big"}, "size"),
        ("/v1/images/generations", {"prompt": "a boat", "size": "64x64", "steps": 0}, "params.steps"),
        ("/v1/completions", {"model": TEXT_MODEL, "prompt": ["one", "two"]}, "prompt"),
        ("/v1/chat/completions", {"model": TEXT_MODEL, "messages": []}, "messages"),
        ("/v1/chat/completions", {"model": TEXT_MODEL, "messages": [{"role": "robot", "content": "hi"}]}, "messages.0"),
    ],
)
def test_a_body_that_does_not_fit_is_a_422_naming_the_field_in_openai_shape(in_process_client, path, body, param):
    response = in_process_client.post(path, json=body)

    assert response.status_code == 422
    error = response.json["error"]
    assert (error["code"], error["param"], error["type"]) == ("validation_error", param, "invalid_request_error")
    assert error["message"].startswith(f"{param}: ")
    assert in_process_client.get("/api/v1/jobs").json["jobs"] == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"prompt": "a boat", "batch_size": "many"}, "batch_size: must be an integer"),
        ({"prompt": "a boat", "width": 63, "height": 64}, "params.width: "),
        ({"prompt": "a boat", "sampler_name": "LMS Weird"}, "sampler_name: 'LMS Weird' is not offered"),
    ],
)
def test_an_a1111_body_that_does_not_fit_is_a_422_naming_the_field(in_process_client, body, detail):
    response = in_process_client.post("/sdapi/v1/txt2img", json=body)

    assert response.status_code == 422
    assert response.json["detail"].startswith(detail)


@pytest.mark.parametrize("path", ["/v1/images/generations", "/sdapi/v1/txt2img"])
def test_a_body_that_is_not_a_json_object_is_a_400(in_process_client, path):
    response = in_process_client.post(path, data="[1, 2]", content_type="application/json")

    assert response.status_code == 400
    assert "invalid_json" in response.get_data(as_text=True)
