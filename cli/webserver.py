"""`genq web`: the Flask app under gunicorn (threads, so slow clients and
long-lived requests do not block the other requests)."""

from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from db.settings import Settings


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


def serve(
    settings: Settings, host: str, port: int, workers: int, threads: int, application: Callable[[], Flask] = _genq_app
) -> None:
    """Gunicorn serving `application` (genq's app; ops/bench/reads.py serves its
    yardstick the same way)."""
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
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
