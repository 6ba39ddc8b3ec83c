"""Schemathesis against a live genq (real HTTP, Postgres, Redis, S3) with a real
key: for every operation of /api/v1/openapi.json, valid and invalid requests
alike never get a 5xx, and every answer matches the document (status, content
type, headers, body schema) and still needs the key. Bounded: a few dozen
examples per operation, well under two minutes."""

import threading

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import make_server

from tests.support.http import auth_headers

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


@pytest.fixture
def live_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_the_api_answers_fuzzed_requests_as_its_document_says(live_url, make_api_key, make_job, mode):
    headers = auth_headers(make_api_key("fuzzer", requests_per_minute=100_000, max_active_jobs=10_000))
    job = make_job("succeeded", owner="fuzzer")  # lists have something in them, ids can name it
    document = requests.get(f"{live_url}/api/v1/openapi.json", headers=headers, timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)

    for result in schema.get_all_operations():
        operation = result.ok()
        cases = operation.as_strategy(generation_mode=mode)
        if "{job_id}" in operation.path:
            # Random ids only ever meet 404; half the cases name the existing job (and its image).
            existing = {"job_id": str(job.id), "index": 0} if "{index}" in operation.path else {"job_id": str(job.id)}
            cases = cases | operation.as_strategy(generation_mode=mode, path_parameters=existing)

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def answers_as_documented(case):
            case.call_and_validate(base_url=f"{live_url}/api/v1", headers=headers, checks=CHECKS, timeout=10)

        answers_as_documented()
