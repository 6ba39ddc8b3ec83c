"""One Redis pub/sub subscription per web process (every job's channel, db/job_signals.py)
that wakes whatever waits on a job there: the event streams (web/api/events.py) and
the compatible calls that answer when their job is done (web/compat/waiting.py). A
waiter sleeps until its job's signal comes, then reads the database; nothing polls.

A signal is only a wake-up: while the subscription is up, a waiter still re-reads
at the long GENQ_SIGNAL_RECHECK_SECONDS in case a publisher could not reach Redis;
while it is down (Redis away, no broker), every GENQ_EVENT_POLL_SECONDS. Every
waiter is woken when the subscription is (re)made, so a message lost meanwhile
costs at most one interval, never an event.
"""

import json
import logging
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from db.cancellation import redis_client
from db.job_signals import channel_prefix
from db.settings import Settings

log = logging.getLogger(__name__)

# The process's hub, in app.extensions.
EVENT_HUB = "genq.event_hub"
RECONNECT_SECONDS = 1.0
# A waiter's next read after one the database did not answer (or no pooled
# connection was free in time): streams, compat waits and the position board.
OUTAGE_RETRY_SECONDS = 2.0
# How long one read of the subscription waits for a message (then reads again).
IDLE_SECONDS = 30.0
# Signals a waiter keeps until it takes them: a textgen job's growing text comes as
# one signal per report, and only the newest text matters to a slow reader.
KEPT_SIGNALS = 256
# What a waiter is given when the subscription is (re)made, or a message is not
# one genq wrote: re-read the database, something may have been missed.
REREAD = "reread"
REREAD_SIGNAL: dict[str, Any] = {"type": REREAD}


class Listener:
    """One waiter's wake-up and signals, fed by the hub from its job's channel."""

    def __init__(self, hub: "EventHub") -> None:
        self._hub = hub
        self._woken = threading.Event()
        self._signals: deque[dict[str, Any]] = deque(maxlen=KEPT_SIGNALS)

    def deliver(self, signal: dict[str, Any]) -> None:
        self._signals.append(signal)
        self._woken.set()

    def take(self, timeout: float) -> list[dict[str, Any]]:
        """Every signal not yet taken, waiting up to `timeout` for one; [] if none came.
        A signal that came before the call counts: none is lost between a read and
        the next wait."""
        self._woken.wait(timeout)
        self._woken.clear()
        taken = []
        while self._signals:
            taken.append(self._signals.popleft())
        return taken

    def next_signal(self, timeout: float) -> dict[str, Any] | None:
        """The oldest signal not yet taken, waiting up to `timeout` for one; None if none came."""
        if not self._signals:
            self._woken.wait(timeout)
        self._woken.clear()
        return self._signals.popleft() if self._signals else None

    def recheck_seconds(self) -> float:
        """How long to sleep at most before re-reading the database without a signal."""
        return self._hub.recheck_seconds()


class EventHub:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._listeners: defaultdict[str, set[Listener]] = defaultdict(set)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._subscribed = False

    @contextmanager
    def listening(self, job_id: uuid.UUID) -> Iterator[Listener]:
        """A listener for the job's signals while the block runs. Enter it before the
        first read of the database, so no change committed in between is missed."""
        listener = Listener(self)
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

    def recheck_seconds(self) -> float:
        if self._subscribed:
            return self._settings.signal_recheck_seconds
        return self._settings.event_poll_seconds

    def _start(self) -> None:
        # Started by the first waiter, in the process that serves it (never before a fork).
        if self._settings.broker_url and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="genq-event-hub", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._settings.broker_url is not None
        while True:
            try:
                client = redis_client(self._settings.broker_url)
                prefix = channel_prefix(client)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(f"{prefix}*")
                self._subscribed = True
                self._deliver_to_all(REREAD_SIGNAL)  # whatever was published while unsubscribed
                while True:
                    message = pubsub.get_message(timeout=IDLE_SECONDS)
                    if message is not None and message["type"] == "pmessage":
                        self._deliver(message["channel"].decode()[len(prefix) :], message["data"])
            except (redis.RedisError, OSError) as error:
                self._subscribed = False
                self._deliver_to_all(REREAD_SIGNAL)  # to re-read, and to wait the short interval from now
                log.warning("lost the job signals subscription (%s); waiters re-read on their interval", error)
                time.sleep(RECONNECT_SECONDS)

    def _deliver(self, key: str, data: bytes) -> None:
        with self._lock:
            listeners = list(self._listeners.get(key, ()))
        if not listeners:
            return
        try:
            signal = json.loads(data)
        except ValueError:
            signal = REREAD_SIGNAL
        if not isinstance(signal, dict):
            signal = REREAD_SIGNAL
        for listener in listeners:
            listener.deliver(signal)

    def _deliver_to_all(self, signal: dict[str, Any]) -> None:
        with self._lock:
            listeners = [listener for group in self._listeners.values() for listener in group]
        for listener in listeners:
            listener.deliver(signal)
