"""Signals from a job's worker to the requests waiting on it, over Redis pub/sub
(channel `genq:job:<id>`): a status change after its commit, and a textgen
output's text as it grows. The compat endpoints block on the channel instead of
polling the database.

A signal is a hint, never the truth: a waiter reads the row when woken, and a
lost signal (Redis down, a worker killed) costs a later wake-up, never a wrong
answer. Publishing never raises into the job.
"""

import json
import logging
import uuid
from typing import Any

import redis

from db.cancellation import redis_client
from db.settings import Settings

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "genq:job:"
STATUS = "status"
TEXT = "text"


def job_channel(job_id: uuid.UUID) -> str:
    return f"{CHANNEL_PREFIX}{job_id}"


def publish_status(settings: Settings, job_id: uuid.UUID, status: str) -> None:
    """Tell waiters the job's row changed status. Call after the commit."""
    JobSignals(settings, job_id).publish({"type": STATUS, "status": status})


class JobSignals:
    """One job's publisher. After one Redis error it stops trying for this job, so a
    broken Redis costs one timeout, not one per generated token."""

    def __init__(self, settings: Settings, job_id: uuid.UUID) -> None:
        self._client = redis_client(settings.broker_url) if settings.broker_url else None
        self._channel = job_channel(job_id)

    def publish_text(self, index: int, text: str) -> None:
        self.publish({"type": TEXT, "index": index, "text": text})

    def publish(self, signal: dict[str, Any]) -> None:
        if self._client is None:
            return
        try:
            self._client.publish(self._channel, json.dumps(signal))
        except redis.RedisError:
            log.warning("cannot publish to %s; its waiters fall back to re-reading the row", self._channel)
            self._client = None
