"""The measured seconds per step that ETAs are made from: timed between the first
and the last step (loading and prompt encoding excluded), stored at finish, and
then used for the next job of the same shape."""

from db.eta import job_position
from db.jobs import LOCAL_OWNER, create_job, get_job
from db.kinds.generate import GenerateSpec
from db.session import make_session_factory
from tests.worker.conftest import TINY_MODEL
from worker.progress import StepTimer
from worker.runner import JobRunner


def test_the_step_timer_ignores_what_comes_before_the_first_step():
    now = iter([100.0, 100.5, 101.0, 101.5])
    timer = StepTimer(clock=lambda: next(now))
    assert timer.seconds_per_step is None
    for step in (1, 2, 3, 4):
        timer(step)
    assert timer.seconds_per_step == 0.5


def test_a_single_step_gives_no_measurement():
    timer = StepTimer(clock=lambda: 5.0)
    timer(1)
    assert timer.seconds_per_step is None


def test_a_finished_run_stores_its_step_time_and_prices_the_next_job(settings):
    sessions = make_session_factory(settings.database_url)
    params = GenerateSpec(prompt="a tram", steps=6, width=64, height=64, seed=2).model_dump(mode="json")

    def queue_job():
        with sessions.begin() as session:
            return create_job(session, owner=LOCAL_OWNER, kind="generate", model=TINY_MODEL, params=params).id

    first = queue_job()
    assert JobRunner(settings).run(first) == "succeeded"
    next_job = queue_job()

    with sessions() as session:
        measured = get_job(session, first, owner=None).step_seconds
        eta = job_position(session, get_job(session, next_job, owner=None)).eta
    assert 0 < measured < 5
    assert eta is not None and eta.p50_seconds == eta.p90_seconds == round(6 * measured, 1)
    sessions.kw["bind"].dispose()
