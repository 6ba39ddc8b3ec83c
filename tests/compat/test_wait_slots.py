"""Calls that wait for their job hold a web thread each, so a web process serves
at most GENQ_MAX_COMPAT_WAITS of them; past that, a call is refused before any
job is made, with a 503 its client may retry."""

import pytest

from tests.compat.conftest import TEXT_MODEL
from web.compat.jobs import WAIT_SLOTS


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/images/generations", {"prompt": "a boat", "size": "64x64"}),
        ("/v1/completions", {"model": TEXT_MODEL, "prompt": "hi", "stream": True}),
        ("/sdapi/v1/txt2img", {"prompt": "a boat", "width": 64, "height": 64}),
    ],
)
def test_with_every_wait_slot_taken_a_call_is_a_503_to_retry_and_makes_no_job(in_process_client, path, body):
    # Waiting calls hold a web thread each; past the cap they would starve the API and /healthz.
    slots = in_process_client.application.extensions[WAIT_SLOTS]
    taken = [slots.take() for _ in range(slots.limit)]
    try:
        response = in_process_client.post(path, json=body)
    finally:
        for _ in taken:
            slots.give_back()

    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert "x-should-retry" not in response.headers
    assert "too_many_waits" in response.get_data(as_text=True)
    assert in_process_client.get("/api/v1/jobs").json["jobs"] == []
