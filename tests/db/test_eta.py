"""ETAs from measured step times, on real Postgres: nothing known gives None; a
running job's remaining steps and a queued job's place are priced at the p50 and
p90 step times of recent succeeded runs of the same model, size and batch."""

from datetime import timedelta

from db import jobs
from db.eta import Eta, estimate_job
from db.events import events_after
from db.models import Job, JobEvent


def new_job(session, *, width=512, height=512, steps=20, num_images=1, model="tiny-sd"):
    params = {"prompt": "a boat", "width": width, "height": height, "steps": steps, "num_images": num_images}
    job = jobs.create_job(session, owner="alice", kind="generate", model=model, params=params)
    session.commit()
    return job


def measured_run(session, step_seconds, **shape):
    """A succeeded job that took `step_seconds` per step."""
    job = new_job(session, **shape)
    claimed = jobs.claim_job(session, job.id, worker_id=f"w-{job.id}")
    assert jobs.finish_job(session, job.id, claimed.attempt, [], step_seconds=step_seconds)
    session.commit()


def running(session, *, step, total, worker="w1", **shape):
    job = new_job(session, **shape)
    claimed = jobs.claim_job(session, job.id, worker_id=worker)
    jobs.record_reports(session, job.id, claimed.attempt, progress=(step, total))
    session.commit()
    session.expire_all()
    return jobs.get_job(session, job.id, owner=None)


def test_nothing_measured_means_no_estimate(session):
    job = new_job(session)
    assert estimate_job(session, job, jobs.queue_position(session, job)) is None


def test_only_runs_of_the_same_shape_count(session):
    measured_run(session, 9.0, width=1024, height=1024)
    measured_run(session, 9.0, num_images=4)
    measured_run(session, 9.0, model="other-model")
    job = new_job(session)
    assert estimate_job(session, job, 0) is None


def test_a_running_job_is_priced_by_its_remaining_steps(session):
    for seconds in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        measured_run(session, seconds, steps=50)  # any step count: the time is per step
    job = running(session, step=5, total=20)

    # 15 steps left; p50 of the ten runs is 0.5 s per step, p90 is 0.9 s.
    assert estimate_job(session, job, 0) == Eta(p50_seconds=7.5, p90_seconds=13.5)


def test_a_queued_job_waits_for_the_jobs_ahead_shared_among_busy_workers(session):
    measured_run(session, 0.5)
    running(session, step=1, total=20, worker="w1")
    running(session, step=1, total=20, worker="w2")
    ahead = [new_job(session) for _ in range(4)]
    job = new_job(session)
    position = jobs.queue_position(session, job)
    assert position == len(ahead)

    # Its own run (20 steps at 0.5 s = 10 s) plus 4 such runs shared by 2 workers.
    assert estimate_job(session, job, position) == Eta(p50_seconds=30.0, p90_seconds=30.0)


def test_a_finished_job_has_no_estimate(session):
    measured_run(session, 0.5)
    job = running(session, step=20, total=20)
    jobs.fail_job(session, job.id, job.attempt, code="x", message="y")
    session.commit()
    session.expire_all()
    assert estimate_job(session, jobs.get_job(session, job.id, owner=None), None) is None


def test_a_running_job_with_two_progress_reports_is_priced_at_its_own_pace(session):
    measured_run(session, 9.0)  # history says slow; the job's own pace wins
    job = running(session, step=2, total=20)
    first = session.get(JobEvent, max(event.id for event in events_after(session, job.id, 0)))
    jobs.record_reports(session, job.id, job.attempt, progress=(12, 20))
    session.commit()
    # The second report came 5 s after the first: 0.5 s per step over 10 steps.
    newest = session.get(JobEvent, max(event.id for event in events_after(session, job.id, 0)))
    newest.created_at = first.created_at + timedelta(seconds=5)
    session.commit()
    session.expire_all()

    assert estimate_job(session, jobs.get_job(session, job.id, owner=None), 0) == Eta(4.0, 4.0)


def test_training_runs_are_shaped_by_resolution_and_batch(session):
    def training(resolution: int) -> Job:
        params = {
            "dataset_id": "x",
            "instance_prompt": "sks",
            "resolution": resolution,
            "batch_size": 1,
            "gradient_accumulation_steps": 1,
            "rank": 4,
            "max_train_steps": 100,
        }
        job = jobs.create_job(session, owner="alice", kind="finetune", model="tiny-sd", params=params)
        session.commit()
        return job

    measured = training(512)
    claimed = jobs.claim_job(session, measured.id, worker_id="w-train")
    assert jobs.finish_job(session, measured.id, claimed.attempt, [], step_seconds=0.5)
    session.commit()

    assert estimate_job(session, training(512), 0) == Eta(50.0, 50.0)  # 100 steps at 0.5 s
    assert estimate_job(session, training(1024), 0) is None
