"""Finishing jobs behind the GPU: a thread per worker process that encodes, stores,
records and announces a job's results while the task thread already runs the next
job's denoising (docs/performance.md). On a GPU worker the PNG encoding and the
upload of a batch of images would otherwise leave the GPU idle; on a CPU the same
cores would do both, so the runner finishes in line there (`GENQ_FINISH_IN_BACKGROUND`).

At most one finish waits behind the one in progress: `submit` blocks beyond that,
so a GPU faster than the finishing slows down instead of piling results up in
memory. A process that dies with a finish pending loses nothing: the job is still
`running` under its lease, which runs out, and the reaper puts it back.
"""

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundFinisher:
    def __init__(self, waiting: int = 1) -> None:
        self._finishes: queue.Queue[Callable[[], object]] = queue.Queue(maxsize=waiting)
        self._pending = 0  # submitted and not yet done
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="job finisher", daemon=True)
        self._thread.start()

    def submit(self, finish: Callable[[], object]) -> None:
        with self._done:
            self._pending += 1
        try:
            self._finishes.put(finish)
        except BaseException:
            self._finished()
            raise

    def wait(self, timeout: float | None = None) -> bool:
        """Until every finish submitted so far is done, or `timeout` seconds (a worker
        process's shutdown; tests); whether all were."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout)

    def _work(self) -> None:
        while True:
            finish = self._finishes.get()
            try:
                finish()
            except Exception:
                # The job stays running under its lease and is recovered when it runs out.
                log.exception("finishing a job in the background failed")
            finally:
                self._finished()

    def _finished(self) -> None:
        with self._done:
            self._pending -= 1
            self._done.notify_all()
