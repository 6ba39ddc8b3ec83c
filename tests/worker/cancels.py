"""Cancelling a job while the runner in this process runs it: what the cancel
tests of each kind share."""

import threading
import uuid

from db.cancellation import signal_cancel
from db.jobs import LOCAL_OWNER, cancel_job, get_job
from db.session import make_session_factory
from db.settings import Settings
from tests.support.waiting import wait_for
from worker.runner import JobRunner


def run_and_cancel(settings: Settings, runner: JobRunner, job_id: uuid.UUID) -> list:
    """Run the job (of LOCAL_OWNER) on `runner` in a thread, cancel it as a user
    does (the row's flag, then the Redis signal) once it is running, and return
    how the run left it ([outcome])."""
    sessions = make_session_factory(settings.database_url)
    outcome = []
    run = threading.Thread(target=lambda: outcome.append(runner.run(job_id)))
    run.start()

    def status() -> str:
        with sessions() as session:
            return get_job(session, job_id, owner=None).status

    wait_for(lambda: status() == "running", timeout=60, what="the job to start")
    with sessions.begin() as session:
        assert cancel_job(session, job_id, owner=LOCAL_OWNER) == "cancel_requested"
    assert signal_cancel(settings, job_id)
    run.join(timeout=60)
    sessions.kw["bind"].dispose()
    return outcome
