"""A worker paused (SIGSTOP) past its lease while it runs a job: another worker
takes the job over and finishes it; when the paused one resumes (SIGCONT) it can
change nothing: the job keeps the second attempt's result, row and objects."""

import signal

import pytest

from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults


def test_a_worker_resumed_after_its_lease_ran_out_cannot_overwrite_the_result(cluster, tmp_path):
    for _ in range(2):
        cluster.start_worker(wait=False)
    for worker in cluster.workers:
        wait_for(worker.is_ready, timeout=120, what="both workers to be ready")
    [job_id] = cluster.submit(steps=40)
    job, paused = wait_for(cluster.running_job, timeout=60, interval=0.1, what="the job to start")

    paused.signal_all(signal.SIGSTOP)
    done = wait_for(
        lambda: (job := cluster.job(job_id)).status == "succeeded" and job, timeout=180, what="the takeover to finish"
    )
    assert done.attempt == 2 and not paused.runs(done)
    [artifact] = done.artifacts
    stored = tmp_path / "objects" / artifact.storage_key
    written = stored.stat().st_mtime_ns

    paused.signal_all(signal.SIGCONT)
    wait_for(lambda: f"job {job_id} attempt 1 lost its" in paused.log(), timeout=180, what="the paused attempt to end")

    after = cluster.job(job_id)
    assert (after.status, after.attempt, after.lease_owner, after.finished_at) == (
        "succeeded",
        2,
        done.lease_owner,
        done.finished_at,
    )
    assert [(a.id, a.sha256) for a in after.artifacts] == [(artifact.id, artifact.sha256)]
    assert stored.stat().st_mtime_ns == written  # the object was not written again
    cluster.assert_one_result_set_each([after])
