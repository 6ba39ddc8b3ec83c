"""Progress reporting for a running job, on the task side of the executor.

An executor reports every step; this throttle passes at most one report per
interval on to the database write, counting from the claim (made just before the
throttle), so a fast model does not turn each denoising step into a transaction
and a job shorter than the interval writes no progress at all: the row shows it
running from the claim on, and its finish records the last step. The per-step path
also times the steps and stops a canceled job (JobCanceled); it must stay cheap.
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
        self._last_write = clock()

    def __call__(self, step: int, total: int) -> None:
        now = self._clock()
        if now - self._last_write < self._interval_seconds:
            return
        self._last_write = now
        self._write(step, total)


class JobCanceled(Exception):
    """Raised from the step callback when the job was canceled: it unwinds the
    pipeline at once (no more steps, no decode, nothing stored)."""

    def __init__(self, step: int) -> None:
        super().__init__(f"canceled at step {step}")
        self.step = step


class StepTimer:
    """Seconds per step, measured between the first and the last step reported, so
    model loading and prompt encoding before the first step do not count."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first: tuple[int, float] | None = None
        self._last: tuple[int, float] | None = None

    def __call__(self, step: int) -> None:
        mark = (step, self._clock())
        if self._first is None:
            self._first = mark
        self._last = mark

    @property
    def seconds_per_step(self) -> float | None:
        if self._first is None or self._last is None or self._last[0] <= self._first[0]:
            return None
        return (self._last[1] - self._first[1]) / (self._last[0] - self._first[0])
