"""The heartbeat that keeps a running job's lease: a thread renews it every
interval while the job runs, so long steps (loading a model, one slow denoising
step, the VAE decode) never let it lapse. It only renews; deciding what a lost
lease means is the runner's job, and every write is fenced by the attempt anyway.
"""

import logging
import threading
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This attempt no longer holds its job: another attempt took it over after the
    lease ran out, or the job ended. Whatever the attempt made is dropped."""


class LeaseHeartbeat:
    """`renew()` extends the lease and returns False once the attempt lost the job
    (taken over after its lease ran out, or finished elsewhere): the heartbeat then
    stops. A renewal that raises (the database did not answer) is tried again at
    the next beat; the lease is long enough to ride out a few."""

    def __init__(self, renew: Callable[[], bool], interval_seconds: float, name: str) -> None:
        self._renew = renew
        self._interval_seconds = interval_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-heartbeat {name}", daemon=True)

    def __enter__(self) -> "LeaseHeartbeat":
        self.start()
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        # A renewal stuck on an unreachable database must not hold up the job's end;
        # a late one changes nothing (renewing is conditioned on the job running).
        self._thread.join(timeout=self._interval_seconds)

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval_seconds):
            try:
                held = self._renew()
            except Exception:
                log.warning("%s: could not renew the lease; trying again", self._thread.name, exc_info=True)
                continue
            if not held:
                log.warning("%s: the lease is lost (the job was taken over or ended)", self._thread.name)
                return
