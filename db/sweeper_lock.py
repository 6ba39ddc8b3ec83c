"""The lock that lets one process at a time sweep (db/retention.py), whatever the
number of workers: a Postgres session-level advisory lock, which goes with its
connection (a killed sweeper's lock is released by the server), or, on SQLite,
whose processes share one machine, an flock on a file beside the database, which
goes with the process. Never waits: a process that does not get it skips the round.
"""

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

# pg_try_advisory_lock's key: any 64-bit number no other user of the database takes.
SWEEPER_LOCK_KEY = 0x67656E715F737765  # "genq_swe"
# An in-memory SQLite database lives in one process: a lock in that process is enough.
_in_process = threading.Lock()


@contextmanager
def sweeper_lock(engine: Engine) -> Iterator[bool]:
    """True inside when this process holds the lock; False when another one does."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine) as held:
            yield held
        return
    database = engine.url.database
    if database in (None, "", ":memory:"):
        held = _in_process.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                _in_process.release()
        return
    with _file_lock(Path(f"{database}.sweeper-lock")) as held:
        yield held


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[bool]:
    with engine.connect() as connection:
        held = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": SWEEPER_LOCK_KEY}))
        connection.commit()  # the lock is the session's, not the transaction's
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SWEEPER_LOCK_KEY})
                connection.commit()


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    with path.open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)
