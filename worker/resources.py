"""What a worker process talks to besides the broker: database sessions and
object storage, made on first use, so that they are created in the pool child
and never in the parent that forks it (connections must not cross a fork)."""

import os
import socket
from functools import cache, cached_property

from sqlalchemy.orm import Session, sessionmaker

from db.job_signals import announce_events_after_commit
from db.session import make_session_factory
from db.settings import Settings
from db.storage import Storage, make_storage


def worker_id() -> str:
    """This process's name in leases and in the workers seen: read per call, as the pid
    is the pool child's, not that of the parent that forked it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_session_factory(settings: Settings) -> sessionmaker[Session]:
    return _session_factory(settings.database_url, settings.broker_url)


@cache
def _session_factory(database_url: str, broker_url: str | None) -> sessionmaker[Session]:
    """One engine (one connection pool) per worker process, shared by the job
    runner, the webhook sender and the maintenance thread. Every job event it
    commits is announced to the streams (db/job_signals.py)."""
    sessions = make_session_factory(database_url)
    announce_events_after_commit(sessions, broker_url)
    return sessions


class WorkerResources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return process_session_factory(self.settings)

    @cached_property
    def storage(self) -> Storage:
        return make_storage(self.settings)
