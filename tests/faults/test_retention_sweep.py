"""The retention sweep in real worker processes: two workers' maintenance threads
both try every half second, the lock lets one at a time sweep, so each finished
job's leftovers and results are swept exactly once, and afterwards storage holds
nothing for jobs whose results expired."""

import re

import pytest

from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults


def swept_counts(logs: list[str], stage: str) -> int:
    return sum(int(count) for log in logs for count in re.findall(rf"retention swept Swept\(.*?{stage}=(\d+)", log))


def test_two_workers_sweep_each_expired_job_once(make_cluster, tmp_path):
    cluster = make_cluster(result_retention_days=3 / 86400, checkpoint_retention_hours=0.0)
    for _ in range(2):
        cluster.start_worker(wait=False)
    for worker in cluster.workers:
        wait_for(worker.is_ready, timeout=120, what="both workers to be ready")

    ids = cluster.submit(4)
    finished = cluster.wait_until_finished(ids, timeout=180)
    assert {job.status for job in finished} == {"succeeded"}

    def all_expired() -> bool:
        return all(artifact.expired_at is not None for job in cluster.jobs(ids) for artifact in job.artifacts)

    wait_for(all_expired, timeout=60, interval=0.2, what="the results to expire")
    logs = [worker.log() for worker in cluster.workers]
    assert swept_counts(logs, "leftovers") == 4
    assert swept_counts(logs, "results") == 4
    objects = tmp_path / "objects"
    assert not (objects / "jobs").exists() or [path for path in (objects / "jobs").rglob("*") if path.is_file()] == []
