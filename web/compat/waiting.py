"""Waiting for a job inside a request, for the compatible endpoints whose clients
expect the result in the answer.

A waiter subscribes to the job's Redis channel (db/job_signals.py) and sleeps on
it; it reads the job's row only when a status signal arrives, and at least every
GENQ_COMPAT_RECHECK_SECONDS in case a signal was lost (Redis down, a worker that
died and was reaped). It never holds a database connection while it sleeps.
Past GENQ_COMPAT_WAIT_SECONDS it gives up with CompatError `job_wait_timeout`,
naming the job, which keeps running and stays in /api/v1/jobs.
"""

import json
import logging
import time
import uuid
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import redis

from db.cancellation import redis_client
from db.job_signals import STATUS, job_channel
from db.jobs import get_job
from db.models import Job
from web.compat.errors import CompatError
from web.context import Platform

log = logging.getLogger(__name__)


class JobWaiter:
    """Subscribed to one job's signals for the life of a `with` block. Subscribe
    before the first read of the row, so no change between the two is missed."""

    def __init__(self, services: Platform, job_id: uuid.UUID, owner: str) -> None:
        self._services = services
        self._job_id = job_id
        self._owner = owner
        self._pubsub: redis.client.PubSub | None = None
        self._deadline = time.monotonic() + services.settings.compat_wait_seconds

    def __enter__(self) -> "JobWaiter":
        try:
            pubsub = redis_client(self._services.settings.broker_url).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(job_channel(self._job_id))
            self._pubsub = pubsub
        except redis.RedisError:
            log.warning("cannot subscribe to the signals of job %s; re-reading its row instead", self._job_id)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._pubsub is not None:
            self._pubsub.close()

    def finished_job(self) -> Job:
        """Wait until the job is finished and return its row (artifacts loaded)."""
        for signal in self.signals():
            if signal is None or signal["type"] == STATUS:
                job = self.read_job()
                if job.is_finished:
                    return job
        raise AssertionError("signals() ends only by raising")

    def signals(self) -> Iterator[dict[str, Any] | None]:
        """Each signal as it arrives, and None first and then at least every recheck
        interval: the times to re-read the row. Raises CompatError at the deadline."""
        yield None
        recheck_at = time.monotonic() + self._services.settings.compat_recheck_seconds
        while True:
            now = time.monotonic()
            if now >= self._deadline:
                raise self.timeout()
            if now >= recheck_at:
                recheck_at = now + self._services.settings.compat_recheck_seconds
                yield None
                continue
            signal = self._next_signal(min(recheck_at, self._deadline) - now)
            if signal is not None:
                yield signal

    def read_job(self) -> Job:
        with self._services.sessions() as session:
            job = get_job(session, self._job_id, owner=self._owner)
        if job is None:  # deleted while waited on
            raise CompatError(404, "job_not_found", f"genq job {self._job_id} no longer exists")
        return job

    def timeout(self) -> CompatError:
        seconds = self._services.settings.compat_wait_seconds
        return CompatError(
            504,
            "job_wait_timeout",
            f"genq job {self._job_id} did not finish within {seconds:g} s; it keeps running: "
            f"GET /api/v1/jobs/{self._job_id}",
        )

    def _next_signal(self, timeout: float) -> dict[str, Any] | None:
        if self._pubsub is None:
            time.sleep(timeout)
            return None
        try:
            message = self._pubsub.get_message(timeout=timeout)
        except redis.RedisError:
            log.warning("lost the signals of job %s; re-reading its row instead", self._job_id)
            self._pubsub = None
            return None
        if message is None:
            return None
        try:
            signal: dict[str, Any] = json.loads(message["data"])
            return signal
        except (TypeError, ValueError):
            return None
