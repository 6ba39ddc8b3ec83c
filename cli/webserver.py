"""`genq web`: the Flask app under gunicorn's gevent worker class.

An event stream or a compatible call waiting for its job is open for minutes and
spends nearly all of it asleep; a thread each would cap a process at a few dozen.
Under gevent each request is a greenlet: psycopg (3.1.14 and later sees gevent's
patched `select` and waits cooperatively), redis-py and boto3 (sockets) yield while
they wait, so one process holds thousands of open streams beside its ordinary
requests, with the same Flask code (docs/design.md, "Serving"). The patching must
come before psycopg or redis is imported: psycopg picks its wait function then.
"""

import logging
import resource
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from db.settings import Settings

log = logging.getLogger(__name__)

# Connections a worker takes besides its streams and waits: ordinary requests.
REQUEST_CONNECTIONS = 1000
# Descriptors besides the clients' connections: the database pool, Redis, files.
OTHER_FILES = 256
# Imported before the patch, these would block the whole process while they wait.
BLOCKING_IF_EARLY = ("psycopg", "redis")


def make_io_cooperative() -> None:
    """gevent's monkey patching, for this process and the workers it forks. Call it
    first, before anything imports psycopg or redis."""
    from gevent import monkey

    if monkey.is_module_patched("socket"):
        return
    early = [name for name in BLOCKING_IF_EARLY if name in sys.modules]
    if early:
        raise RuntimeError(f"{', '.join(early)} imported before gevent patched the standard library")
    monkey.patch_all()


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict, application: Callable[[], Flask]) -> None:
        self.options = options
        self.application = application
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application()


def _forget_worker_metrics(_server: Any, worker: Any) -> None:
    # A gunicorn worker gone: its open streams and waits count no more (web/metrics.py).
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(worker.pid)


def _genq_app() -> Flask:
    from web import create_app

    return create_app()


def raise_open_files_limit(needed: int) -> None:
    """Each connection is a file descriptor: the soft limit up to the hard one, and
    a warning when even that is short of `needed` (streams then fail to connect
    instead of being refused with a 503)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "open files limit %d is below the %d that GENQ_MAX_EVENT_STREAMS and GENQ_MAX_COMPAT_WAITS need;"
            " raise it (ulimit -n) or lower them",
            soft,
            needed,
        )


def serve(settings: Settings, host: str, port: int, workers: int, application: Callable[[], Flask] = _genq_app) -> None:
    """Gunicorn serving `application` (genq's app; ops/bench/reads.py serves its
    yardstick the same way)."""
    make_io_cooperative()
    # Each stream and wait is one connection; beyond the caps they are refused with
    # a 503 by the app, so the caps must fit.
    connections = settings.max_event_streams + settings.max_compat_waits + REQUEST_CONNECTIONS
    raise_open_files_limit(connections + OTHER_FILES)
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gevent",
            "worker_connections": connections,
            "accesslog": "-",
            "timeout": 60,
            "graceful_timeout": 10,
            # genq offers no gunicornc; the socket would be left in ~/.gunicorn/ (or
            # XDG_RUNTIME_DIR), outside everything genq keeps.
            "control_socket_disable": True,
            "child_exit": _forget_worker_metrics,
        },
        application,
    ).run()
