"""The Celery task that runs a job: a thin shell that turns a message into a
JobRunner call. Idempotent: a duplicate message finds the job claimed and does
nothing. Nothing but the job id rides in the message.
"""

import logging
import uuid

from celery import Task, shared_task

from db.queue import RUN_JOB_TASK
from worker.runner import JobRunner, Outcome

log = logging.getLogger(__name__)


class JobTask(Task):
    """Celery makes one task object per app and process; it keeps the runner, and
    with it the loaded pipelines, from one job to the next."""

    _runner: JobRunner | None = None

    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            self._runner = JobRunner(self.app.conf.genq_settings)
        return self._runner


@shared_task(base=JobTask, bind=True, name=RUN_JOB_TASK)
def run_job(self: JobTask, job_id: str) -> Outcome | None:
    try:
        parsed_id = uuid.UUID(job_id)
    except (TypeError, ValueError):
        log.error("dropped a message whose job id %r is not a UUID", job_id)
        return None
    return self.runner.run(parsed_id)
