"""A job past its time limit fails `time_limit` and the worker goes on. A worker
told to stop (SIGTERM, to its main process only, as docker stop and Kubernetes
send it) drains: it takes no new job, finishes the one it is running within
GENQ_WORKER_DRAIN_GRACE_SECONDS or puts it back past that, stops a training at
its next checkpoint, and exits; through a drain no job is lost or run twice."""

import signal

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from db.events import STATUS
from db.losses import loss_series
from db.models import JobEvent
from db.storage import attempt_prefix
from tests.faults.test_finetune_resume import checkpoint_step, submit_finetune
from tests.support.services import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults


def test_a_job_over_its_time_limit_fails_time_limit_and_the_worker_goes_on(make_cluster):
    # A hard limit of 4 s: the soft one, which the job can record, comes at 3 s.
    metrics_port = free_port()
    cluster = make_cluster(
        kind_time_limit_seconds={"generate": 4}, worker_metrics_host="127.0.0.1", worker_metrics_port=metrics_port
    )
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
    # Its metrics count the one live pool child, not also the one the hard limit killed.
    metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    processes = [
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "genq_worker_processes" and sample.labels == {"kind": "generate"}
    ]
    assert processes == [1]


def drained_events(cluster, job_id) -> list[dict]:
    with cluster.sessions() as session:
        statuses = session.scalars(
            select(JobEvent.data).where(JobEvent.job_id == job_id, JobEvent.type == STATUS).order_by(JobEvent.id)
        ).all()
    return [data for data in statuses if data.get("reason") == "worker_draining"]


def test_sigterm_finishes_the_running_job_takes_no_new_one_and_another_worker_runs_it(cluster):
    worker = cluster.start_worker()
    [running] = cluster.submit(steps=30)
    wait_for(cluster.running_job, timeout=60, interval=0.1, what="the job to start")
    [waiting] = cluster.submit(steps=2)

    worker.process.send_signal(signal.SIGTERM)

    assert worker.process.wait(timeout=120) == 0
    finished, still_queued = cluster.jobs([running, waiting])
    assert (finished.status, finished.attempt) == ("succeeded", 1)
    assert (still_queued.status, still_queued.attempt) == ("queued", 0)

    cluster.start_worker()
    jobs = cluster.wait_until_finished([running, waiting], timeout=120)
    # Each ran once, to the end, with one set of results.
    assert [(job.status, job.attempt) for job in jobs] == [("succeeded", 1), ("succeeded", 1)]
    cluster.assert_one_result_set_each(jobs)


def test_a_job_still_running_at_the_end_of_the_grace_is_put_back_and_runs_once_on_another_worker(make_cluster):
    cluster = make_cluster(worker_drain_grace_seconds=1)
    worker = cluster.start_worker()
    [slow] = cluster.submit(steps=150, width=256, height=256)
    wait_for(cluster.running_job, timeout=60, interval=0.1, what="the job to start")

    worker.process.send_signal(signal.SIGTERM)

    assert worker.process.wait(timeout=60) == 0
    put_back = cluster.job(slow)
    # Put back at once, not left to its lease: queued, and the drained attempt given back.
    assert (put_back.status, put_back.attempt, put_back.max_attempts) == ("queued", 1, 4)
    assert put_back.artifacts == [] and put_back.lease_owner is None
    [event] = drained_events(cluster, slow)
    assert event["attempt"] == 1

    cluster.start_worker()
    [job] = cluster.wait_until_finished([slow], timeout=300)
    assert (job.status, job.attempt) == ("succeeded", 2)
    cluster.assert_one_result_set_each([job])
    # Storage holds the results of the attempt that finished, nothing of the drained one.
    assert all(artifact.storage_key.startswith(attempt_prefix(slow, 2)) for artifact in job.artifacts)
    assert cluster.storage.list_keys(attempt_prefix(slow, 1)) == []


def test_a_training_stops_at_its_next_checkpoint_and_resumes_from_it_on_another_worker(make_cluster):
    steps = 200
    cluster = make_cluster(worker_drain_grace_seconds=120)
    worker = cluster.start_worker(queues="finetune")
    job_id = submit_finetune(cluster, max_train_steps=steps, checkpointing_steps=40)

    def training() -> bool:
        job = cluster.job(job_id)
        assert job.status in ("queued", "running"), "the job ended before the worker could be stopped"
        return job.status == "running" and 1 <= job.progress_step < 30

    wait_for(training, timeout=120, interval=0.05, what="the training to start")
    worker.process.send_signal(signal.SIGTERM)

    assert worker.process.wait(timeout=120) == 0
    put_back = cluster.job(job_id)
    # Stopped at the first checkpoint after the signal, long before the training's end.
    assert (put_back.status, put_back.attempt) == ("queued", 1)
    assert checkpoint_step(cluster, job_id) == 40
    [_event] = drained_events(cluster, job_id)

    cluster.start_worker(queues="finetune")
    [job] = cluster.wait_until_finished([job_id], timeout=300)
    assert (job.status, job.attempt) == ("succeeded", 2)
    with cluster.sessions() as session:
        # One loss per step: the second attempt started after the checkpoint, repeating nothing.
        assert [step for step, _ in loss_series(session, job_id)] == list(range(1, steps + 1))
