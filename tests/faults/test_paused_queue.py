"""A paused queue with a real worker: the worker reports itself (the kinds of its
--queues) within a maintenance round, takes none of the paused kind's jobs while
it takes other work, and runs them once an admin resumes the queue."""

import pytest
import redis

from db.accounts import create_api_key
from db.queue_admin import pause_queue, queue_states
from tests.api.conftest import authenticated_client
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults


def _workers(cluster, kind: str) -> int:
    with cluster.sessions() as session:
        return next(state.workers for state in queue_states(session) if state.kind == kind)


def test_a_paused_kind_waits_for_the_resume_while_the_worker_is_idle(cluster):
    with cluster.sessions.begin() as session:
        pause_queue(session, "generate", by="faults")
        _key, raw_key = create_api_key(session, owner="operator", admin=True)
    admin = authenticated_client(cluster.app, raw_key)
    cluster.start_worker()
    wait_for(lambda: _workers(cluster, "generate") == 1, timeout=30, what="the worker to report itself")
    assert _workers(cluster, "textgen") == 0  # its --queues are generate's only

    [job_id] = cluster.submit(steps=2)
    # The wake-up reached the worker (the broker's list is empty) and left the job queued.
    broker = redis.Redis.from_url(cluster.redis.url)
    wait_for(lambda: broker.llen("generate") == 0, timeout=30, what="the wake-up to be taken")
    broker.close()
    assert cluster.job(job_id).status == "queued"

    assert admin.post("/api/v1/admin/queues/generate/resume").status_code == 200
    [job] = cluster.wait_until_finished([job_id], timeout=60)
    assert job.status == "succeeded"
