"""The fast path of cancelling a running job: a Redis key (`genq:cancel:<job id>`)
that the web sets after committing the row's cancel_requested, and that the
worker reads at every denoising step (one EXISTS, well under a millisecond).

The row's flag is the truth and the worker also reads it at each throttled
progress write; the key only lets it notice within one step. A missing or
unreachable key never means "not canceled".
"""

import logging
import uuid
from functools import lru_cache

import redis

from db.settings import Settings

log = logging.getLogger(__name__)

KEY_PREFIX = "genq:cancel:"
# A Redis that does not answer must not stall a denoising step for long.
TIMEOUT_SECONDS = 0.5


def cancel_key(job_id: uuid.UUID) -> str:
    return f"{KEY_PREFIX}{job_id}"


@lru_cache
def redis_client(broker_url: str) -> redis.Redis:
    # kombu's unix-socket URL (the embedded Redis of `genq up`) in redis-py's spelling.
    url = broker_url.replace("redis+socket://", "unix://", 1)
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)


def signal_cancel(settings: Settings, job_id: uuid.UUID) -> bool:
    """Tell the worker running this job to stop at its next step. Call only after
    cancel_requested is committed. False if Redis could not be told (the worker
    then stops at its next progress write instead)."""
    try:
        # The key outlives any run of the job: no job runs longer than the time limit.
        redis_client(settings.broker_url).set(cancel_key(job_id), 1, ex=settings.broker_visibility_timeout)
    except redis.RedisError:
        log.warning("could not signal the cancel of job %s through Redis", job_id, exc_info=True)
        return False
    return True


class CancelWatch:
    """The worker's per-step question "was this job canceled?", asked of Redis.

    After one Redis error it stops asking for this job, so a broken Redis costs one
    timeout, not one per step; the database flag still stops the job."""

    def __init__(self, settings: Settings, job_id: uuid.UUID) -> None:
        self._client = redis_client(settings.broker_url) if settings.broker_url else None
        self._key = cancel_key(job_id)
        self._usable = self._client is not None

    def requested(self) -> bool:
        if not self._usable or self._client is None:
            return False
        try:
            return bool(self._client.exists(self._key))
        except redis.RedisError:
            log.warning("cannot read cancel signals from Redis; relying on the database flag", exc_info=True)
            self._usable = False
            return False
