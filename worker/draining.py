"""Draining a worker told to stop (SIGTERM: docker stop, a Kubernetes pod's end).

Celery's main process gets the signal; the pool children, which run the jobs, do
not. It sets a deadline (now + GENQ_WORKER_DRAIN_GRACE_SECONDS) in memory it
shares with its children, made before they fork; from then on a child claims no
job, stops waiting for a batch's companions, and a training stops at its next
checkpoint; past the deadline a running job stops at its next step. A job that
stopped so is put back in the queue, its attempt given back (db.jobs.release_job),
for another worker to run, from its checkpoint if it has one.
"""

import multiprocessing
import time


class WorkerDraining(Exception):
    """Raised in a job's step callback (or after its checkpoint) when its worker is
    draining: the job is put back, not failed."""

    def __init__(self, step: int) -> None:
        super().__init__(f"the worker is stopping: put back at step {step}")
        self.step = step


class Drain:
    """The draining deadline of one worker: 0 until it is told to stop."""

    def __init__(self) -> None:
        # A plain double in shared memory: one writer (the main process), read per step.
        self._deadline = multiprocessing.RawValue("d", 0.0)

    def begin(self, grace_seconds: float) -> None:
        if not self._deadline.value:
            # CLOCK_MONOTONIC: one clock for every process of the machine.
            self._deadline.value = time.monotonic() + grace_seconds

    @property
    def draining(self) -> bool:
        deadline: float = self._deadline.value
        return deadline > 0

    @property
    def overdue(self) -> bool:
        deadline: float = self._deadline.value
        return deadline > 0 and time.monotonic() >= deadline
