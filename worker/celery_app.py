"""The worker's Celery app, built from settings by `create_celery` (no app exists
at import time). Importing this module is cheap: no torch, no diffusers; the
worker imports worker.tasks (and with it the executors) when it starts. Each
worker child also runs the periodic maintenance (worker/maintenance.py).
"""

import logging
import sys

from celery import Celery, current_app, signals
from kombu import Queue

from db.queue import celery_config
from db.settings import Settings
from db.specs import JOB_KINDS
from db.webhooks import WEBHOOKS_QUEUE
from worker.maintenance import Maintenance

LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


def create_celery(settings: Settings) -> Celery:
    app = Celery("genq", include=["worker.tasks", "worker.webhooks"])
    job_queues = {kind.queue for kind in JOB_KINDS.values()}
    app.conf.update(
        celery_config(settings),
        task_queues=[Queue(name) for name in sorted(job_queues | {WEBHOOKS_QUEUE})],
        # Read by worker.tasks.JobTask; tasks get settings from their app, never the environment.
        genq_settings=settings,
    )
    return app


@signals.worker_process_init.connect
def _start_maintenance(**_kwargs) -> None:
    # In each pool child, not the parent: the parent forks new children later and
    # must hold no threads or database connections when it does.
    Maintenance(current_app.conf.genq_settings, current_app).start()


@signals.setup_logging.connect
def _plain_logging(loglevel: int, **_kwargs) -> None:
    # Connecting this signal keeps Celery from installing its own handlers; genq's
    # INFO lines (job started, pipeline loaded, job failed) go to stderr as plain text.
    logging.basicConfig(level=loglevel, format=LOG_FORMAT, stream=sys.stderr)
