"""How long to wait before trying again: a database or storage call that failed to
connect is retried in place a few times (the job's work is not redone), and a
failed attempt is put back in the queue with a delay that doubles per attempt.
"""

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from db.settings import Settings
from worker.failures import is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds between tries of one call; about 15 s in all, well inside a lease.
IN_PLACE_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_RETRY_DELAY_SECONDS = 3600.0


def retry_transient(operation: Callable[[], T], *, what: str, delays: Sequence[float] = IN_PLACE_DELAYS) -> T:
    """Call `operation`; while it fails with a transient error, wait and call it
    again, once per delay. Any other error, or the last one, is raised."""
    for delay in delays:
        try:
            return operation()
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("%s failed (%s: %s); trying again in %.1f s", what, type(error).__name__, error, delay)
            time.sleep(delay)
    return operation()


def retry_delay_seconds(settings: Settings, attempt: int) -> float:
    """Backoff before the attempt after `attempt` (1-based) may start."""
    return min(settings.retry_backoff_seconds * 2.0 ** (attempt - 1), MAX_RETRY_DELAY_SECONDS)
