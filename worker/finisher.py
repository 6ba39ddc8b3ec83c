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
        self._thread = threading.Thread(target=self._work, name="job finisher", daemon=True)
        self._thread.start()

    def submit(self, finish: Callable[[], object]) -> None:
        self._finishes.put(finish)

    def wait(self) -> None:
        """Until every finish submitted so far is done (a worker process's shutdown; tests)."""
        self._finishes.join()

    def _work(self) -> None:
        while True:
            finish = self._finishes.get()
            try:
                finish()
            except Exception:
                # The job stays running under its lease and is recovered when it runs out.
                log.exception("finishing a job in the background failed")
            finally:
                self._finishes.task_done()
