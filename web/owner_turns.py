"""One submit at a time per owner in a web process, waiting its turn without a
database connection.

A submit locks its owner's row to check the owner's limits (db/quotas.py), so one
owner's submits are taken one after another however many arrive at once. Waiting
for that row holds a pooled connection; a few hundred concurrent submits of one
owner would hold all of a process's (GENQ_WEB_DB_POOL_SIZE) and leave every other
request, other owners' included, a 503. Waiting here instead holds only a greenlet:
at most one submit per owner per process waits on the database."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class OwnerTurns:
    def __init__(self) -> None:
        # owner -> (its lock, how many hold or wait for it)
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def turn(self, owner: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(owner, (threading.Lock(), 0))
            self._locks[owner] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users = self._locks[owner][1] - 1
                if users:
                    self._locks[owner] = (lock, users)
                else:
                    del self._locks[owner]
