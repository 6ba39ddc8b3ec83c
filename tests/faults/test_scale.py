"""Horizontal scale: three workers on one queue share thirty jobs; every worker
runs some, every job runs exactly once."""

from collections import Counter

import pytest

from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults


def test_three_workers_share_thirty_jobs_and_run_each_exactly_once(cluster):
    for _ in range(3):
        cluster.start_worker(wait=False)
    for worker in cluster.workers:
        wait_for(worker.is_ready, timeout=180, what="all three workers to be ready")

    ids = cluster.submit(30, steps=3)
    jobs = cluster.wait_until_finished(ids, timeout=240)

    assert [job.status for job in jobs] == ["succeeded"] * 30
    assert {job.attempt for job in jobs} == {1}
    cluster.assert_one_result_set_each(jobs)
    ran = Counter(index for job in jobs for index, worker in enumerate(cluster.workers) if worker.runs(job))
    assert sum(ran.values()) == 30 and sorted(ran) == [0, 1, 2], ran
