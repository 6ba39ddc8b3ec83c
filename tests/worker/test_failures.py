"""What a failed job's row says: a code and one short line, never a traceback."""

import torch
from celery.exceptions import SoftTimeLimitExceeded

from worker.failures import MESSAGE_LIMIT, JobFailure, describe_failure


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
    assert describe_failure(torch.OutOfMemoryError("CUDA out of memory"))[0] == "out_of_memory"
    assert describe_failure(SoftTimeLimitExceeded())[0] == "time_limit_exceeded"
