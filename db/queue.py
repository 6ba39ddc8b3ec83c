"""Queue and task names, the Celery configuration shared by the web (which only
sends) and the worker, and the one function that sends a job's wake-up message.

The message carries only a job id; the row in the database is the truth.
"""

import uuid

from celery import Celery

from db.settings import Settings

RUN_JOB_TASK = "genq.run_job"
GENERATE_QUEUE = "generate"


def celery_config(settings: Settings) -> dict:
    if not settings.broker_url:
        raise RuntimeError(
            "GENQ_BROKER_URL is not set: point it at Redis (redis://host:6379/0), "
            "or use `genq up`, which starts an embedded one"
        )
    return {
        "broker_url": settings.broker_url,
        # Job state lives in the database; Celery results are never read.
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.task_time_limit_seconds,
        "broker_transport_options": {"visibility_timeout": settings.broker_visibility_timeout},
        "broker_connection_retry_on_startup": True,
        "task_default_queue": GENERATE_QUEUE,
        "worker_hijack_root_logger": False,
    }


def send_job(celery: Celery, job_id: uuid.UUID, queue: str) -> None:
    """Wake a worker on the job's queue. Call only after the job's row is committed."""
    celery.send_task(RUN_JOB_TASK, args=[str(job_id)], queue=queue)
