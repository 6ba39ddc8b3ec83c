"""The worker's Celery app, built from settings by `create_celery` (no app exists
at import time). Importing this module is cheap: no torch, no diffusers; the
worker imports worker.tasks (and with it the executors) when it starts.
"""

import logging
import sys

from celery import Celery, signals
from kombu import Queue

from db.queue import celery_config
from db.settings import Settings
from db.specs import JOB_KINDS

LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


def create_celery(settings: Settings) -> Celery:
    app = Celery("genq", include=["worker.tasks"])
    app.conf.update(
        celery_config(settings),
        task_queues=[Queue(name) for name in sorted({kind.queue for kind in JOB_KINDS.values()})],
        task_soft_time_limit=soft_time_limit(settings.task_time_limit_seconds),
        # Read by worker.tasks.JobTask; tasks get settings from their app, never the environment.
        genq_settings=settings,
    )
    return app


def soft_time_limit(hard_limit_seconds: int) -> int:
    """A little before the hard limit kills the child, the job gets an exception it
    can record (time_limit_exceeded) instead of being left running."""
    return hard_limit_seconds - min(60, hard_limit_seconds // 10)


@signals.setup_logging.connect
def _plain_logging(loglevel: int, **_kwargs) -> None:
    # Connecting this signal keeps Celery from installing its own handlers; genq's
    # INFO lines (job started, pipeline loaded, job failed) go to stderr as plain text.
    logging.basicConfig(level=loglevel, format=LOG_FORMAT, stream=sys.stderr)
