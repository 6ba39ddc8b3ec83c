"""ETAs from measured step times, on real Postgres: nothing known gives None; a
running job's remaining steps and a queued job's place are priced at the p50 and
p90 step times of recent succeeded runs of the same model, size and batch."""

from datetime import timedelta

from db import jobs
from db.eta import Eta, Position, job_position, job_positions
from db.events import events_after
from db.models import Job, JobEvent
from tests.support.statements import counted_statements


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
    assert job_position(session, job).eta is None


def test_only_runs_of_the_same_shape_count(session):
    measured_run(session, 9.0, width=1024, height=1024)
    measured_run(session, 9.0, num_images=4)
    measured_run(session, 9.0, model="other-model")
    job = new_job(session)
    assert job_position(session, job).eta is None


def test_a_running_job_is_priced_by_its_remaining_steps(session):
    for seconds in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        measured_run(session, seconds, steps=50)  # any step count: the time is per step
    job = running(session, step=5, total=20)

    # 15 steps left; p50 of the ten runs is 0.5 s per step, p90 is 0.9 s.
    assert job_position(session, job).eta == Eta(p50_seconds=7.5, p90_seconds=13.5)


def test_a_queued_job_waits_for_the_running_jobs_and_the_jobs_ahead_on_the_worker_free_first(session):
    measured_run(session, 0.5)
    running(session, step=1, total=20, worker="w1")  # 19 steps left: free in 9.5 s
    running(session, step=15, total=20, worker="w2")  # 5 steps left: free in 2.5 s
    ahead = [new_job(session) for _ in range(2)]
    job = new_job(session)
    position = job_position(session, job)
    assert position.queue_position == len(ahead)

    # Runs of 10 s: w2 takes the first at 2.5 s, w1 the second at 9.5 s, w2 this one at 12.5 s.
    assert position.eta == Eta(p50_seconds=22.5, p90_seconds=22.5)


def test_a_job_behind_a_long_running_one_waits_for_its_remaining_time_at_its_own_pace(session):
    measured_run(session, 0.1)
    long_run = running(session, step=10, total=100, worker="w1", steps=100)
    first = session.get(JobEvent, max(event.id for event in events_after(session, long_run.id, 0)))
    jobs.record_reports(session, long_run.id, long_run.attempt, progress=(20, 100))
    session.commit()
    newest = session.get(JobEvent, max(event.id for event in events_after(session, long_run.id, 0)))
    newest.created_at = first.created_at + timedelta(seconds=10)  # 1 s per step: 80 s left
    session.commit()

    job = new_job(session)
    assert job_position(session, job) == Position(0, Eta(82.0, 82.0))  # 80 s, then its own 20 steps at 0.1 s


def test_the_place_in_line_follows_fair_share_across_owners(session):
    busy = new_job(session)  # new_job's owner is alice
    jobs.claim_job(session, busy.id, worker_id="w1")
    session.commit()
    alices = [new_job(session) for _ in range(2)]
    bobs = jobs.create_job(session, owner="bob", kind="generate", model="tiny-sd", params=alices[0].params)
    session.commit()

    # Alice has a job running and Bob has not: his goes first, submitted last or not.
    assert job_position(session, bobs).queue_position == 0
    assert [job_position(session, job).queue_position for job in alices] == [1, 2]


def test_a_page_of_jobs_is_placed_and_priced_with_a_bounded_number_of_statements(session):
    measured_run(session, 0.5)
    running(session, step=1, total=20, worker="w1")
    few = [new_job(session) for _ in range(2)]
    many = few + [new_job(session) for _ in range(30)]
    with counted_statements() as few_statements:
        job_positions(session, few)
    with counted_statements() as many_statements:
        positions = job_positions(session, many)
    assert many_statements.count == few_statements.count
    assert [positions[job.id].queue_position for job in many] == list(range(len(many)))


def test_a_finished_job_has_no_estimate(session):
    measured_run(session, 0.5)
    job = running(session, step=20, total=20)
    jobs.fail_job(session, job.id, job.attempt, code="x", message="y")
    session.commit()
    session.expire_all()
    assert job_position(session, jobs.get_job(session, job.id, owner=None)).eta is None


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

    assert job_position(session, jobs.get_job(session, job.id, owner=None)).eta == Eta(4.0, 4.0)


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

    assert job_position(session, training(512)).eta == Eta(50.0, 50.0)  # 100 steps at 0.5 s
    assert job_position(session, training(1024)).eta is None
