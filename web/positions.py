"""Queue positions for the event streams of one web process, read for all their jobs
at once and pushed to the streams whose job's position changed.

A queued job's position moves with other jobs (a claim, a cancel, a submit with a
higher priority), which signal on their own channels, and reading one position
costs the claim order of its whole queue (db/claims.places_in_line). So no stream
reads its own: every POSITION_SECONDS, or soon after a stream starts watching, one
read of every watched active job (db/eta.job_positions: a few statements per queue,
not per job) delivers a `position` signal to each stream whose job's changed. The
cost is the same for 1 watcher as for 2,000."""

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db.eta import job_positions
from db.job_json import describe_position
from db.models import ACTIVE_STATUSES, Job
from db.session import is_database_outage
from web.event_hub import OUTAGE_RETRY_SECONDS, Listener

log = logging.getLogger(__name__)

# The process's board, in app.extensions.
POSITION_BOARD = "genq.position_board"
POSITION = "position"
POSITION_SECONDS = 2.0
# Streams that start together share one read.
GATHER_SECONDS = 0.1


class PositionBoard:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._watchers: defaultdict[uuid.UUID, set[Listener]] = defaultdict(set)
        self._latest: dict[uuid.UUID, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watching(self, job_id: uuid.UUID, listener: Listener) -> Iterator[None]:
        """`listener` gets a `position` signal with the job's position (as the `queue`
        event's data) soon, and again whenever it changes, while the block runs."""
        with self._lock:
            self._watchers[job_id].add(listener)
            known = self._latest.get(job_id)
            if known is not None:  # under the lock: no newer one can be delivered before it
                listener.deliver({"type": POSITION, "position": known})
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="genq-positions", daemon=True)
                self._thread.start()
        if known is None:
            self._wanted.set()
        try:
            yield
        finally:
            with self._lock:
                self._watchers[job_id].discard(listener)
                if not self._watchers[job_id]:
                    del self._watchers[job_id]
                    self._latest.pop(job_id, None)

    def _run(self) -> None:
        while True:
            self._wanted.wait(POSITION_SECONDS)
            with self._lock:
                if not self._watchers:  # ends when idle; the next watcher starts another
                    self._thread = None
                    return
            time.sleep(GATHER_SECONDS)
            self._wanted.clear()
            try:
                self._read()
            except SQLAlchemyError as error:
                if not is_database_outage(error):
                    log.exception("reading the watched jobs' positions failed")
                else:
                    log.warning("the watched jobs' positions could not be read (%s)", error)
                time.sleep(OUTAGE_RETRY_SECONDS)
            except Exception:  # the board must outlive any one read
                log.exception("reading the watched jobs' positions failed")
                time.sleep(OUTAGE_RETRY_SECONDS)

    def _read(self) -> None:
        with self._lock:
            job_ids = list(self._watchers)
        if not job_ids:
            return
        with self._sessions() as session:
            jobs = session.scalars(select(Job).where(Job.id.in_(job_ids), Job.status.in_(ACTIVE_STATUSES))).all()
            positions = job_positions(session, jobs)
        for job_id, position in positions.items():
            described = describe_position(position).model_dump(mode="json")
            with self._lock:
                if self._latest.get(job_id) == described or job_id not in self._watchers:
                    continue
                self._latest[job_id] = described
                listeners = list(self._watchers[job_id])
            for listener in listeners:
                listener.deliver({"type": POSITION, "position": described})
