"""The workers' Celery apps, built from settings (no app exists at import time):
`create_celery` for the job workers, `create_webhooks_celery` for the webhook
deliveries, which have a process of their own so that they never wait behind the
jobs they report on. Importing this module is cheap: no torch, no diffusers; the
job worker imports worker.tasks (and with it the executors) when it starts. Each
job worker child also runs the periodic maintenance (worker/maintenance.py) and
warms up the models of GENQ_WARM_MODELS before it takes its first task.
"""

import logging
import sys

from celery import Celery, current_app, signals
from kombu import Queue

from db.kinds import job_kinds, job_queues, load_kind_modules
from db.queue import RUN_JOB_TASK, celery_config
from db.settings import Settings
from db.webhooks import WEBHOOKS_QUEUE
from worker.draining import Drain
from worker.maintenance import Maintenance
from worker.metrics import forget_dead_processes, forget_process, worker_metrics

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
WARM_UP_SECONDS_PER_MODEL = 600


def create_celery(settings: Settings, served_queues: list[str] | None = None) -> Celery:
    """The job workers' app: genq.run_job from every kind's queue; served_queues:
    those this worker takes jobs from (`--queues`; None: all), for its metrics."""
    load_kind_modules(settings.kind_modules)
    app = _create_app(settings, "worker.tasks", job_queues())
    app.conf.genq_worker_queues = served_queues
    # Made here, before the pool children fork: they share it with the main process.
    app.conf.genq_drain = Drain()
    if settings.warm_models:
        # A child reports itself up only after its warm-up; loading a large model can
        # take minutes, past the default 4 s after which Celery gives the child up.
        app.conf.worker_proc_alive_timeout = WARM_UP_SECONDS_PER_MODEL * len(settings.warm_models)
    return app


def create_webhooks_celery(settings: Settings) -> Celery:
    """`genq webhooks`' app: genq.deliver_webhook from the webhooks queue, nothing else."""
    return _create_app(settings, "worker.webhooks", [WEBHOOKS_QUEUE])


def _create_app(settings: Settings, task_module: str, queues: list[str]) -> Celery:
    app = Celery("genq", include=[task_module])
    app.conf.update(
        celery_config(settings),
        task_queues=[Queue(name) for name in sorted(queues)],
        # Read by the tasks' base classes; tasks get settings from their app, never the environment.
        genq_settings=settings,
    )
    return app


@signals.worker_process_init.connect
def _start_maintenance(**_kwargs) -> None:
    # In each pool child, not the parent: the parent forks new children later and
    # must hold no threads or database connections when it does.
    Maintenance(current_app.conf.genq_settings, current_app).start()


@signals.worker_process_init.connect
def _warm_up_models(**_kwargs) -> None:
    runner = current_app.tasks[RUN_JOB_TASK].runner
    for model_name in current_app.conf.genq_settings.warm_models:
        try:
            runner.pipelines.warm_up(model_name)
        except Exception:
            # Jobs on that model fail with their own error; the child still serves the others.
            log.exception("could not warm up %s", model_name)


@signals.worker_process_shutdown.connect
def _finish_pending_jobs(**_kwargs) -> None:
    # Results still being stored behind the last job (GENQ_FINISH_IN_BACKGROUND) are
    # recorded before the child exits; past a lease their jobs are the reaper's anyway.
    settings = current_app.conf.genq_settings
    if not current_app.tasks[RUN_JOB_TASK].runner.wait_for_finishes(timeout=settings.lease_seconds):
        log.warning("exiting with job results still unrecorded; their jobs will be run again")


@signals.worker_shutting_down.connect
def _drain(how: str, **_kwargs) -> None:
    # In the main process, on SIGTERM (a warm shutdown): Celery stops taking messages
    # and waits for the children's running tasks; they learn of it through the drain.
    if how == "Warm" and "genq_drain" in current_app.conf:
        grace = current_app.conf.genq_settings.worker_drain_grace_seconds
        log.info("stopping: running jobs get %g s to finish, trainings until their next checkpoint", grace)
        current_app.conf.genq_drain.begin(grace)


@signals.worker_process_init.connect
def _count_in_metrics(**_kwargs) -> None:
    queues = set(current_app.conf.genq_worker_queues or job_queues())
    forget_dead_processes()
    worker_metrics().serve(kind for kind in job_kinds().values() if kind.queue in queues)


@signals.worker_process_shutdown.connect
def _forget_metrics(**_kwargs) -> None:
    forget_process()


@signals.setup_logging.connect
def _plain_logging(loglevel: int, **_kwargs) -> None:
    # Connecting this signal keeps Celery from installing its own handlers; genq's
    # INFO lines (job started, pipeline loaded, job failed) go to stderr as plain text.
    logging.basicConfig(level=loglevel, format=LOG_FORMAT, stream=sys.stderr)
