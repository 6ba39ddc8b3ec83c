"""The Celery task that runs a job: a thin shell that turns a message into a
JobRunner call. The message is a wake-up for its queue: the runner claims that
queue's next job by the claim policy, so a duplicate message runs nothing twice.
Nothing but a job id (a hint) rides in the message.
"""

import logging
import uuid
from functools import partial

from celery import Task, shared_task

from db.queue import RUN_JOB_TASK
from db.webhooks import announce
from worker.runner import JobRunner, Outcome

log = logging.getLogger(__name__)


class JobTask(Task):
    """Celery makes one task object per app and process; it keeps the runner, and
    with it the loaded pipelines, from one job to the next."""

    _runner: JobRunner | None = None

    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            self._runner = JobRunner(
                self.app.conf.genq_settings, announce=partial(announce, self.app), drain=self.app.conf.genq_drain
            )
        return self._runner


@shared_task(base=JobTask, bind=True, name=RUN_JOB_TASK)
def run_job(self: JobTask, job_id: str) -> Outcome | None:
    try:
        parsed_id = uuid.UUID(job_id)
    except (TypeError, ValueError):
        log.error("dropped a message whose job id %r is not a UUID", job_id)
        return None
    # The queue this wake-up came from: the claim takes that queue's next job.
    queue = (self.request.delivery_info or {}).get("routing_key")
    return self.runner.run(parsed_id, queue)
