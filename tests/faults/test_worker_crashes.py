"""Workers killed with SIGKILL in the middle of jobs, again and again: every job
still ends succeeded, with one set of results, and none is left stuck."""

import os
import signal

import pytest

from tests.faults.conftest import lease_holder_pid
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults


def test_ten_workers_killed_mid_job_lose_no_job_and_duplicate_none(make_cluster):
    # Attempts are not the point here: a job may be unlucky and be killed twice.
    cluster = make_cluster(max_attempts=20)
    for _ in range(2):
        cluster.start_worker(wait=False)
    ids = cluster.submit(8, steps=12)

    killed = set()
    for round_number in range(10):
        job, worker = wait_for(cluster.running_job, timeout=120, interval=0.1, what="a job in progress to kill")
        if round_number in (3, 7):
            # The whole worker dies, as with its host; another one is started.
            worker.signal_all(signal.SIGKILL)
            worker.process.wait()
            cluster.start_worker(wait=False)
        else:
            # The process running the job dies, as under the OOM killer; Celery forks another.
            os.kill(lease_holder_pid(job), signal.SIGKILL)
        wait_for(lambda worker=worker, job=job: not worker.runs(job), timeout=10, what="the killed process to be gone")
        killed.add((job.id, job.attempt))

    jobs = cluster.wait_until_finished(ids, timeout=240)

    assert [job.status for job in jobs] == ["succeeded"] * len(ids)
    cluster.assert_one_result_set_each(jobs)
    # Every kill cost its job exactly one more attempt, and nothing else did.
    assert len(killed) == 10
    assert sum(job.attempt for job in jobs) == len(ids) + len(killed)
