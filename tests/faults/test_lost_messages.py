"""Wake-up messages that never reach a worker: Redis killed with jobs queued and
started again empty, and a crash between the commit of a job and its send. Every
job still runs, because the database, not Redis, says what is queued."""

import pytest
import redis

from db.jobs import create_job
from db.kinds.generate import GenerateSpec
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults


def waiting_messages(cluster) -> int:
    client = redis.Redis.from_url(cluster.redis.url)
    try:
        return client.llen("generate")
    finally:
        client.close()


def test_redis_killed_with_twenty_jobs_queued_and_restarted_empty_loses_none(cluster):
    cluster.start_worker()
    # Steps enough that the worker is still on its first jobs when Redis dies, with
    # most wake-ups waiting in it (a wake-up is claimed the moment it arrives).
    ids = cluster.submit(20, steps=25)
    wait_for(cluster.running_job, timeout=60, interval=0.1, what="the worker to be busy")
    assert waiting_messages(cluster) >= 15

    cluster.redis.kill()
    cluster.redis.start()
    assert waiting_messages(cluster) == 0

    jobs = cluster.wait_until_finished(ids, timeout=180)

    assert [job.status for job in jobs] == ["succeeded"] * 20
    cluster.assert_one_result_set_each(jobs)


def test_a_job_committed_but_never_sent_still_runs(cluster):
    cluster.start_worker(wait=False)
    # What the web leaves behind when it dies between its commit and its send.
    params = GenerateSpec(prompt="a lighthouse", width=64, height=64, steps=4).model_dump(mode="json")
    with cluster.sessions.begin() as session:
        job_id = create_job(session, owner="faults", kind="generate", model="tiny-sd", params=params).id
    assert waiting_messages(cluster) == 0

    [job] = cluster.wait_until_finished([job_id], timeout=60)

    assert (job.status, job.attempt) == ("succeeded", 1)
    assert job.enqueued_at is not None
    cluster.assert_one_result_set_each([job])
