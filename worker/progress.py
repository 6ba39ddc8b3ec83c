"""Progress reporting for a running job, on the task side of the executor.

An executor reports every step; this throttle passes at most one report per
interval (always the first and the last) on to the database write, so a fast
model does not turn each denoising step into a transaction.
"""

import time
from collections.abc import Callable

ProgressCallback = Callable[[int, int], None]


class ThrottledProgress:
    def __init__(
        self,
        write: ProgressCallback,
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._interval_seconds = interval_seconds
        self._clock = clock
        self._last_write: float | None = None

    def __call__(self, step: int, total: int) -> None:
        now = self._clock()
        recent = self._last_write is not None and now - self._last_write < self._interval_seconds
        if recent and step < total:
            return
        self._last_write = now
        self._write(step, total)
