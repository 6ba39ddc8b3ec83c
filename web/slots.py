"""Requests that stay open for long (event streams, compatible calls that wait for
their job) take one of a fixed number of slots per web process, so they can never
take every connection gunicorn's worker accepts (cli/webserver.py) and leave none
for the API, the pages and /healthz."""

import threading

from prometheus_client import Gauge


class Slots:
    def __init__(self, limit: int, taken: Gauge | None = None) -> None:
        """taken: the metric that shows how many are taken (web/metrics.py)."""
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()
        self._taken = taken

    def take(self) -> bool:
        with self._lock:
            if self._open >= self.limit:
                return False
            self._open += 1
        if self._taken is not None:
            self._taken.inc()
        return True

    def give_back(self) -> None:
        with self._lock:
            self._open -= 1
        if self._taken is not None:
            self._taken.dec()
