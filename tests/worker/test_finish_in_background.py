"""Finishing behind the GPU (worker/finisher.py) against real Postgres and S3
(moto): with GENQ_FINISH_IN_BACKGROUND a job's results are encoded, stored and
recorded on the finisher thread while the next job already runs, and every job
still ends succeeded with its file in the bucket."""

import threading

import pytest

from tests.worker.test_run_job import load, submit
from worker.executors import ArtifactOutput
from worker.finisher import BackgroundFinisher
from worker.runner import JobRunner


class StorageThatWaits:
    """The worker's storage, whose first put waits until `release` is set."""

    def __init__(self, storage, release: threading.Event) -> None:
        self._storage = storage
        self._release = release
        self.stored_while_waiting: list[str] = []

    def put(self, key: str, data: bytes, content_type: str) -> None:
        if not self._release.is_set():
            assert self._release.wait(timeout=60), "the next job never started"
            self.stored_while_waiting.append(key)
        self._storage.put(key, data, content_type)

    def __getattr__(self, name):
        return getattr(self._storage, name)


def test_the_next_job_runs_while_the_last_ones_results_are_stored(settings, sessions):
    first, second = submit(sessions, seed=1), submit(sessions, seed=2)
    second_started = threading.Event()
    encoded_on = []

    def executor(job, context):
        if job.id == second:
            second_started.set()

        def encode() -> bytes:
            encoded_on.append(threading.current_thread().name)
            return f"image of {job.id}".encode()

        return [ArtifactOutput(index=0, kind="image", content_type="image/png", extension="png", data=encode)]

    runner = JobRunner(settings.model_copy(update={"finish_in_background": True}), executors={"generate": executor})
    storage = StorageThatWaits(runner.storage, second_started)
    runner.__dict__["storage"] = storage

    # The first job's store waits for the second job's executor: it can only
    # finish because the second ran while the first was still being stored.
    assert runner.run(first) == "finishing"
    assert runner.run(second) == "finishing"
    runner.wait_for_finishes()

    for job_id in (first, second):
        job = load(sessions, job_id)
        assert job.status == "succeeded"
        [artifact] = job.artifacts
        assert runner.storage.get(artifact.storage_key) == f"image of {job_id}".encode()
    assert storage.stored_while_waiting == [load(sessions, first).artifacts[0].storage_key]
    assert encoded_on == ["job finisher", "job finisher"]


def test_on_a_cpu_auto_finishes_in_line(settings, sessions):
    job_id = submit(sessions, seed=3)

    assert settings.finish_in_background == "auto"
    assert JobRunner(settings).run(job_id) == "succeeded"
    assert load(sessions, job_id).status == "succeeded"


def test_a_finish_that_cannot_be_handed_over_stops_the_heartbeat(settings, sessions):
    job_id = submit(sessions, seed=4)
    runner = JobRunner(settings.model_copy(update={"finish_in_background": True, "heartbeat_seconds": 0.05}))

    def refuse(_finish) -> None:
        raise RuntimeError("the task's time limit went off while it waited")

    runner.finisher.submit = refuse
    with pytest.raises(RuntimeError):
        runner.run(job_id)

    # Left to its lease, which nothing renews any more: the reaper's to recover.
    heartbeats = [thread for thread in threading.enumerate() if thread.name == f"lease-heartbeat {job_id}"]
    for heartbeat in heartbeats:
        heartbeat.join(timeout=5)
    assert not any(heartbeat.is_alive() for heartbeat in heartbeats)
    assert load(sessions, job_id).status == "running"


def test_waiting_for_finishes_is_bounded():
    finisher, release = BackgroundFinisher(), threading.Event()
    finisher.submit(lambda: release.wait(timeout=60))

    assert finisher.wait(timeout=0.05) is False
    release.set()
    assert finisher.wait(timeout=60) is True
