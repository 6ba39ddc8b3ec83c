"""Waiting for a job inside a request, for the compatible endpoints whose clients
expect the result in the answer.

A waiter listens to the job's signals through the web process's one subscription
(web/event_hub.py) and sleeps on them; it reads the job's row only when a status
signal arrives, and at least every GENQ_SIGNAL_RECHECK_SECONDS in case a signal was
lost (GENQ_EVENT_POLL_SECONDS while the subscription is down). It never holds a
database connection while it sleeps. Past GENQ_COMPAT_WAIT_SECONDS it gives up
with CompatError `job_wait_timeout`, naming the job, which keeps running and stays
in /api/v1/jobs.
"""

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from types import TracebackType
from typing import Any

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from db.job_signals import STATUS
from db.jobs import get_job
from db.models import Job
from db.session import is_database_outage
from web.compat.errors import CompatError
from web.context import Platform
from web.event_hub import EVENT_HUB, OUTAGE_RETRY_SECONDS, REREAD, EventHub, Listener

log = logging.getLogger(__name__)

# Signals after which the row is read again.
ROW_SIGNALS = frozenset({STATUS, REREAD})


class JobWaiter:
    """Listening to one job's signals for the life of a `with` block. Enter it
    before the first read of the row, so no change between the two is missed."""

    def __init__(self, services: Platform, job_id: uuid.UUID, owner: str) -> None:
        self._services = services
        self._job_id = job_id
        self._owner = owner
        self._hub: EventHub = current_app.extensions[EVENT_HUB]
        self._listening = ExitStack()
        self._listener: Listener | None = None
        self._deadline = time.monotonic() + services.settings.compat_wait_seconds

    def __enter__(self) -> "JobWaiter":
        self._listener = self._listening.enter_context(self._hub.listening(self._job_id))
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._listening.close()

    def finished_job(self) -> Job:
        """Wait until the job is finished and return its row (artifacts loaded)."""
        for signal in self.signals():
            if signal is None or signal["type"] in ROW_SIGNALS:
                job = self.read_job()
                if job.is_finished:
                    return job
        raise AssertionError("signals() ends only by raising")

    def signals(self) -> Iterator[dict[str, Any] | None]:
        """Each signal as it arrives, and None first and then at least every recheck
        interval: the times to re-read the row. Raises CompatError at the deadline."""
        assert self._listener is not None, "signals() is for inside the with block"
        yield None
        recheck_at = time.monotonic() + self._listener.recheck_seconds()
        while True:
            now = time.monotonic()
            if now >= self._deadline:
                raise self.timeout()
            if now >= recheck_at:
                recheck_at = now + self._listener.recheck_seconds()
                yield None
                continue
            signal = self._listener.next_signal(min(recheck_at, self._deadline) - now)
            if signal is not None:
                yield signal

    def read_job(self) -> Job:
        """The job's row; while the database is away or the pool full, read again
        every OUTAGE_RETRY_SECONDS until the deadline: the job exists, and an error
        now would make a client's retry submit it twice."""
        while True:
            try:
                with self._services.sessions() as session:
                    job = get_job(session, self._job_id, owner=self._owner)
                break
            except SQLAlchemyError as error:
                if not is_database_outage(error):
                    raise
                if time.monotonic() + OUTAGE_RETRY_SECONDS >= self._deadline:
                    raise self.timeout() from error
                log.warning("job %s could not be read (%s); reading again shortly", self._job_id, error)
                time.sleep(OUTAGE_RETRY_SECONDS)
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
