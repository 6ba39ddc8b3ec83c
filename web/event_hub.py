"""One Redis pub/sub subscription per web process (every job's channel, db/job_signals.py)
that wakes the event streams of the jobs it hears about: a stream sleeps until its
job's signal comes, then reads the new events from the database, instead of polling.

A signal is only a wake-up: a stream still re-reads the database at its own long
interval, and every stream is woken when the subscription is (re)made, so a message
lost while Redis was away costs at most that interval, never an event.
"""

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from db.cancellation import redis_client
from db.job_signals import CHANNEL_PREFIX

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0
# How long one read of the subscription waits for a message (then reads again).
IDLE_SECONDS = 30.0


class Listener:
    """One stream's wake-up: set by the hub when its job's channel hears anything."""

    def __init__(self) -> None:
        self._woken = threading.Event()

    def wake(self) -> None:
        self._woken.set()

    def wait(self, timeout: float) -> bool:
        """Sleep until woken or `timeout`; True if woken. A wake-up that came before
        the call counts: it is never lost between a read and the next wait."""
        woken = self._woken.wait(timeout)
        self._woken.clear()
        return woken


class EventHub:
    def __init__(self, broker_url: str | None) -> None:
        self._broker_url = broker_url
        self._listeners: defaultdict[str, set[Listener]] = defaultdict(set)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def listening(self, job_id: uuid.UUID) -> Iterator[Listener]:
        """A listener for the job's signals while the block runs. Enter it before the
        first read of the database, so no event committed in between is missed."""
        listener = Listener()
        key = str(job_id)
        with self._lock:
            self._listeners[key].add(listener)
            self._start()
        try:
            yield listener
        finally:
            with self._lock:
                self._listeners[key].discard(listener)
                if not self._listeners[key]:
                    del self._listeners[key]

    def _start(self) -> None:
        # Started by the first stream, in the process that serves it (never before a fork).
        if self._broker_url and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="genq-event-hub", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._broker_url is not None
        while True:
            try:
                pubsub = redis_client(self._broker_url).pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                self._wake_all()  # whatever was published while unsubscribed
                while True:
                    message = pubsub.get_message(timeout=IDLE_SECONDS)
                    if message is not None and message["type"] == "pmessage":
                        self._wake(message["channel"].decode()[len(CHANNEL_PREFIX) :])
            except (redis.RedisError, OSError) as error:
                log.warning("lost the job signals subscription (%s); streams re-read on their interval", error)
                time.sleep(RECONNECT_SECONDS)

    def _wake(self, key: str) -> None:
        with self._lock:
            listeners = list(self._listeners.get(key, ()))
        for listener in listeners:
            listener.wake()

    def _wake_all(self) -> None:
        with self._lock:
            listeners = [listener for group in self._listeners.values() for listener in group]
        for listener in listeners:
            listener.wake()
