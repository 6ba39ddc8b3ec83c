"""Queue and task names, the Celery configuration shared by the web (which only
sends) and the worker, and the one function that sends a job's wake-up message.

The message carries only a job id; the row in the database is the truth.
"""

import uuid

from celery import Celery

from db.kinds import job_kinds
from db.settings import Settings

RUN_JOB_TASK = "genq.run_job"
# Celery setting (genq's own) read by send_job: {queue: hard time limit in seconds}.
QUEUE_TIME_LIMITS = "genq_queue_time_limits"


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
        # The defaults; each message carries its queue's limits (send_job).
        "task_time_limit": settings.task_time_limit_seconds,
        "task_soft_time_limit": soft_time_limit(settings.task_time_limit_seconds),
        QUEUE_TIME_LIMITS: queue_time_limits(settings),
        "broker_transport_options": {"visibility_timeout": settings.broker_visibility_timeout},
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }


def soft_time_limit(hard_limit_seconds: int) -> int:
    """A little before the hard limit kills the worker child, the job gets an
    exception it can record (`time_limit`) instead of being left running."""
    return hard_limit_seconds - max(1, min(60, hard_limit_seconds // 10))


def queue_time_limits(settings: Settings) -> dict[str, int]:
    """The hard time limit of a run woken from each queue: the longest of its kinds'."""
    limits: dict[str, int] = {}
    for kind in job_kinds().values():
        limits[kind.queue] = max(limits.get(kind.queue, 0), settings.time_limit_for(kind.name))
    return limits


def send_job(celery: Celery, job_id: uuid.UUID, queue: str) -> None:
    """Wake a worker on the job's queue. Call only after the job's row is committed."""
    hard_limit = celery.conf.get(QUEUE_TIME_LIMITS, {}).get(queue)
    limits = {} if hard_limit is None else {"time_limit": hard_limit, "soft_time_limit": soft_time_limit(hard_limit)}
    celery.send_task(RUN_JOB_TASK, args=[str(job_id)], queue=queue, **limits)
