"""What a failed job tells its owner never includes the worker's file paths or a
traceback: paths are replaced, URLs and plain text are kept."""

from worker.failures import describe_failure


def test_a_failure_message_hides_the_workers_paths():
    error = FileNotFoundError(2, "No such file or directory", "/srv/genq/var/models/tiny/unet/config.json")
    code, message = describe_failure(error)
    assert code == "execution_error"
    assert message == "FileNotFoundError: [Errno 2] No such file or directory: '<path>'"


def test_urls_and_ordinary_slashes_are_kept():
    _code, message = describe_failure(RuntimeError("GET http://minio:9000/bucket/key failed; ratio 1/2, a/b"))
    assert message == "RuntimeError: GET http://minio:9000/bucket/key failed; ratio 1/2, a/b"


def test_a_multi_line_error_becomes_one_line_without_paths():
    error = RuntimeError('Traceback (most recent call last):\n  File "/opt/genq/worker/runner.py", line 3')
    _code, message = describe_failure(error)
    assert "\n" not in message and "/opt/genq" not in message
