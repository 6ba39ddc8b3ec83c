"""What a failed job's row says (a code and one short line, never a traceback), and
which failures are worth another attempt."""

import torch
from botocore.exceptions import EndpointConnectionError
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import exc as sql_errors

from worker.failures import MESSAGE_LIMIT, JobFailure, describe_failure, is_retryable, is_transient


def test_known_failures_keep_their_code_and_message():
    assert describe_failure(JobFailure("model_not_found", "model 'x' is not installed")) == (
        "model_not_found",
        "model 'x' is not installed",
    )


def test_unexpected_errors_are_their_type_and_text_on_one_line():
    code, message = describe_failure(RuntimeError("shape mismatch:\n  got [2, 4]\n  want [2, 8]"))

    assert code == "execution_error"
    assert message == "RuntimeError: shape mismatch: got [2, 4] want [2, 8]"


def test_long_messages_are_truncated():
    _, message = describe_failure(ValueError("x" * 5000))

    assert len(message) == MESSAGE_LIMIT and message.endswith("…")


def test_out_of_memory_and_time_limit_have_codes_of_their_own():
    assert describe_failure(torch.OutOfMemoryError("CUDA out of memory"))[0] == "oom"
    assert describe_failure(SoftTimeLimitExceeded())[0] == "time_limit"


def test_outages_of_the_database_and_storage_are_transient_and_retried():
    database_down = sql_errors.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    storage_down = EndpointConnectionError(endpoint_url="http://minio:9000")

    assert is_transient(database_down) and is_transient(storage_down)
    assert describe_failure(database_down)[0] == "database_unavailable"
    assert describe_failure(storage_down)[0] == "storage_unavailable"
    assert is_retryable("database_unavailable") and is_retryable("storage_unavailable")


def test_the_jobs_own_faults_are_not_retried_and_surprises_are():
    for code in ("invalid_params", "oom", "time_limit", "unsupported_kind", "model_not_found"):
        assert not is_retryable(code), code
    assert is_retryable("execution_error") and is_retryable("model_load_failed")
    assert not is_transient(ValueError("width must be a multiple of 8"))
