"""Signals from a job's worker to the requests waiting on it, over Redis pub/sub
(channel `genq:<db>:job:<id>`): a status change after its commit, new rows in the job's
events after theirs (whoever wrote them: every session of a factory passed to
announce_events_after_commit), a textgen output's text as it grows, and a generate
job's preview images while it denoises (also kept under a key, for
latest_preview, until PREVIEW_KEPT_SECONDS after the last). The compat
endpoints and the event streams block on the channel instead of polling the database.

A signal is a hint, never the truth: a waiter reads the row when woken, and a
lost signal (Redis down, a worker killed) costs a later wake-up, never a wrong
answer. Publishing never raises into the job.
"""

import base64
import json
import logging
import uuid
from typing import Any

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from db.cancellation import redis_client
from db.events import EVENTS_WRITTEN
from db.settings import Settings

log = logging.getLogger(__name__)

STATUS = "status"
TEXT = "text"
PREVIEW = "preview"
PREVIEW_KEPT_SECONDS = 600
PREVIEW_DATA_URI_PREFIX = "data:image/webp;base64,"
EVENTS = "events"
EVENTS_SIGNAL = json.dumps({"type": EVENTS})


def channel_prefix(client: redis.Redis) -> str:
    """Pub/sub channels are one namespace for a whole Redis server, unlike keys: the
    channels carry the Redis database number, so deployments that share a server
    (each in its own database, as their queues must be) never hear each other."""
    database = client.connection_pool.connection_kwargs.get("db", 0)
    return f"genq:{database}:job:"


def job_channel(client: redis.Redis, job_id: uuid.UUID) -> str:
    return f"{channel_prefix(client)}{job_id}"


def preview_key(job_id: uuid.UUID) -> str:
    return f"genq:preview:{job_id}"


def latest_preview(broker_url: str | None, job_id: uuid.UUID) -> dict[str, Any] | None:
    """The job's newest preview signal ({"index", "step", "total", "image": a data URI}), if
    one was published lately; None also when Redis cannot be reached."""
    if not broker_url:
        return None
    try:
        kept = redis_client(broker_url).get(preview_key(job_id))
    except redis.RedisError:
        return None
    if not isinstance(kept, bytes):
        return None  # none kept (or expired)
    preview: dict[str, Any] = json.loads(kept)
    return preview


def publish_status(settings: Settings, job_id: uuid.UUID, status: str) -> None:
    """Tell waiters the job's row changed status. Call after the commit."""
    JobSignals(settings, job_id).publish({"type": STATUS, "status": status})


def announce_events_after_commit(sessions: sessionmaker[Session], broker_url: str | None) -> None:
    """After each commit of a session from `sessions` that wrote job events, an
    `events` signal on each of those jobs' channels: the streams read them then."""
    if not broker_url:
        return
    client = redis_client(broker_url)  # one connection pool for all of them

    @event.listens_for(sessions, "after_commit")
    def announce(session: Session) -> None:
        job_ids = session.info.pop(EVENTS_WRITTEN, ())
        if not job_ids:
            return
        try:
            with client.pipeline(transaction=False) as pipe:
                for job_id in job_ids:
                    pipe.publish(job_channel(client, job_id), EVENTS_SIGNAL)
                pipe.execute()
        except redis.RedisError:
            log.warning(
                "cannot announce new events of %d job(s); their streams re-read on their interval", len(job_ids)
            )

    @event.listens_for(sessions, "after_rollback")
    def forget(session: Session) -> None:
        session.info.pop(EVENTS_WRITTEN, None)


class JobSignals:
    """One job's publisher. After one Redis error it stops trying for this job, so a
    broken Redis costs one timeout, not one per generated token."""

    def __init__(self, settings: Settings, job_id: uuid.UUID) -> None:
        self._client = redis_client(settings.broker_url) if settings.broker_url else None
        self._job_id = job_id
        self._channel = job_channel(self._client, job_id) if self._client is not None else ""

    def publish_text(self, index: int, text: str) -> None:
        self.publish({"type": TEXT, "index": index, "text": text})

    def publish_preview(self, index: int, step: int, total: int, webp: bytes) -> None:
        """Output `index` as it looked at `step` of `total`, for the job's streams and A1111's /progress."""
        image = PREVIEW_DATA_URI_PREFIX + base64.b64encode(webp).decode()
        signal = json.dumps({"type": PREVIEW, "index": index, "step": step, "total": total, "image": image})
        if self._client is None:
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.set(preview_key(self._job_id), signal, ex=PREVIEW_KEPT_SECONDS)
                pipe.publish(self._channel, signal)
                pipe.execute()
        except redis.RedisError:
            log.warning("cannot publish a preview to %s", self._channel)
            self._client = None

    def publish(self, signal: dict[str, Any]) -> None:
        if self._client is None:
            return
        try:
            self._client.publish(self._channel, json.dumps(signal))
        except redis.RedisError:
            log.warning("cannot publish to %s; its waiters fall back to re-reading the row", self._channel)
            self._client = None
