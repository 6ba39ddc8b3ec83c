"""The reconciler (db/outbox.py) against real Postgres and Redis: a queued job
whose wake-up never left, or was lost with the broker, is sent again; a healthy
backlog is not."""

import base64
import json
import uuid
from datetime import timedelta

import pytest
import redis
from celery import Celery
from sqlalchemy import update

from db import jobs
from db.claims import claim_next_jobs
from db.jobs import retry_job
from db.kinds.generate import GENERATE_QUEUE
from db.models import Job, utcnow
from db.outbox import resend_owed_wake_ups, send_wake_up, waiting_wake_ups
from db.queue import celery_config
from tests.support.services import flush_redis


@pytest.fixture
def celery(settings):
    app = Celery(set_as_current=False)
    app.config_from_object(celery_config(settings))
    yield app
    app.close()


@pytest.fixture
def wake_ups(settings):
    """The job ids named by the messages waiting on the generate queue."""
    broker = redis.Redis.from_url(settings.broker_url)

    def read() -> list[uuid.UUID]:
        bodies = (json.loads(raw)["body"] for raw in broker.lrange(GENERATE_QUEUE, 0, -1))
        return [uuid.UUID(json.loads(base64.b64decode(body))[0][0]) for body in bodies]

    yield read
    broker.close()


def committed_job(sessions, *, sent: bool = False, celery: Celery | None = None) -> uuid.UUID:
    """A queued job; `sent`: its wake-up left too, as the web does after the commit."""
    with sessions.begin() as session:
        job_id = jobs.create_job(session, owner="alice", kind="generate", model="tiny-sd", params={"prompt": "x"}).id
    if sent:
        with sessions() as session:
            send_wake_up(session, celery, job_id, "generate")
    return job_id


def resend(sessions, celery, resend_after_seconds: float = 0) -> int:
    return resend_owed_wake_ups(sessions, celery, resend_after_seconds=resend_after_seconds)


def test_a_worker_woken_by_the_wake_up_can_claim_the_job_at_once(sessions, celery):
    # A woken worker claims with SKIP LOCKED: a row still locked by the record of
    # the send would be passed over and the wake-up dropped.
    job_id = committed_job(sessions)

    with sessions() as session:
        send_wake_up(session, celery, job_id, "generate")
        with sessions.begin() as worker_session:
            claimed = claim_next_jobs(worker_session, kinds=["generate"], worker_id="w1", lease_seconds=60)

    assert [job.id for job in claimed] == [job_id]


def test_a_job_committed_but_never_sent_is_sent_once_overdue(sessions, celery, wake_ups):
    job_id = committed_job(sessions)

    assert resend(sessions, celery, resend_after_seconds=60) == 0  # the web may still be sending it
    assert resend(sessions, celery) == 1

    assert wake_ups() == [job_id]
    with sessions() as session:
        assert jobs.get_job(session, job_id, owner=None).enqueued_at is not None
    assert resend(sessions, celery) == 0


def test_wake_ups_lost_with_the_broker_are_sent_again(settings, sessions, celery, wake_ups):
    sent = [committed_job(sessions, sent=True, celery=celery) for _ in range(3)]
    assert waiting_wake_ups(celery, GENERATE_QUEUE) == 3

    flush_redis(settings.broker_url)  # Redis restarted empty
    assert waiting_wake_ups(celery, GENERATE_QUEUE) == 0

    assert resend(sessions, celery, resend_after_seconds=60) == 0  # not overdue yet
    assert resend(sessions, celery) == 3
    assert sorted(wake_ups()) == sorted(sent)
    assert resend(sessions, celery) == 0


def test_a_healthy_backlog_is_not_sent_again(sessions, celery, wake_ups):
    sent = [committed_job(sessions, sent=True, celery=celery) for _ in range(3)]

    assert resend(sessions, celery) == 0

    assert sorted(wake_ups()) == sorted(sent)


def test_only_as_many_wake_ups_as_are_missing_are_sent(settings, sessions, celery, wake_ups):
    first, second = (committed_job(sessions, sent=True, celery=celery) for _ in range(2))
    broker = redis.Redis.from_url(settings.broker_url)
    broker.rpop(GENERATE_QUEUE)  # one message lost; the one that is left wakes either job
    broker.close()

    assert resend(sessions, celery) == 1

    assert len(wake_ups()) == 2


def test_a_job_waiting_out_a_retry_backoff_is_sent_when_it_may_run(sessions, celery, wake_ups):
    job_id = committed_job(sessions)
    with sessions.begin() as session:
        [job] = claim_next_jobs(session, kinds=["generate"], worker_id="w1", lease_seconds=30)
        retry_job(session, job_id, job.attempt, code="execution_error", message="boom", delay_seconds=3600)

    assert resend(sessions, celery) == 0

    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(retry_at=utcnow() - timedelta(seconds=1)))
    assert resend(sessions, celery) == 1
    assert wake_ups() == [job_id]
