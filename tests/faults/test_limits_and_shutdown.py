"""A job past its time limit fails `time_limit` and the worker goes on; a worker
told to stop (SIGTERM) finishes the job it is running and takes no new one."""

import signal

import pytest

from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults


def test_a_job_over_its_time_limit_fails_time_limit_and_the_worker_goes_on(make_cluster):
    # A hard limit of 4 s: the soft one, which the job can record, comes at 3 s.
    cluster = make_cluster(kind_time_limit_seconds={"generate": 4})
    worker = cluster.start_worker()

    [slow] = cluster.submit(steps=150, width=256, height=256)
    [quick] = cluster.submit(steps=2)
    slow_job, quick_job = cluster.wait_until_finished([slow, quick], timeout=120)

    assert (slow_job.status, slow_job.error_code, slow_job.attempt) == ("failed", "time_limit", 1)
    assert slow_job.artifacts == []
    # Whether the soft limit stopped the job or the hard one killed the worker's
    # child (then the lease ran out and the reaper saw the limit), the worker goes on.
    assert (quick_job.status, quick_job.attempt) == ("succeeded", 1)
    assert worker.process.poll() is None and worker.runs(quick_job)


def test_sigterm_finishes_the_running_job_and_takes_no_new_one(cluster):
    worker = cluster.start_worker()
    [running] = cluster.submit(steps=30)
    wait_for(cluster.running_job, timeout=60, interval=0.1, what="the job to start")
    [waiting] = cluster.submit(steps=2)

    # To the main process only, as docker stop and Kubernetes do.
    worker.process.send_signal(signal.SIGTERM)

    assert worker.process.wait(timeout=120) == 0
    finished, still_queued = cluster.jobs([running, waiting])
    assert (finished.status, finished.attempt) == ("succeeded", 1)
    cluster.assert_one_result_set_each([finished])
    assert (still_queued.status, still_queued.attempt) == ("queued", 0)
