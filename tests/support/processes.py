"""genq processes the way production runs them: `python -m cli worker` etc.,
configured only through GENQ_* environment variables."""

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import requests
from celery import Celery

from cli import WEBHOOKS_NODE_NAME
from db.kinds import job_queues
from db.queue import celery_config
from db.settings import Settings
from tests.support.services import free_port
from tests.support.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every kind's queue, as a default `genq worker` takes.
ALL_QUEUES = ",".join(job_queues())


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to see exactly these settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GENQ_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"GENQ_{name.upper()}"] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_genq(settings: Settings, log_path: Path, args: list[str]) -> subprocess.Popen:
    """`genq ARGS` in a process group of its own, its children included, so that a
    test can signal the whole of it; its output appended to log_path."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", *args],
            env=settings_env(settings),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_worker(settings: Settings, log_path: Path, queues: str | None = ALL_QUEUES) -> subprocess.Popen:
    """A real Celery worker process (`genq worker`), its pool child in its group.
    queues None: the worker's default (every kind it loads)."""
    return start_genq(settings, log_path, ["worker", *(["--queues", queues] if queues else [])])


@contextmanager
def running_worker(settings: Settings, log_path: Path, queues: str | None = ALL_QUEUES) -> Iterator[subprocess.Popen]:
    """A real Celery worker process; yields once it answers a ping (by Celery's
    default node name, which `genq webhooks` does not answer to)."""
    node = f"celery@{socket.gethostname()}"
    with _answering(start_worker(settings, log_path, queues), settings, log_path, node) as process:
        yield process


@contextmanager
def running_webhooks(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen]:
    """A real `genq webhooks` (the webhook deliveries' Celery worker); yields once
    it answers a ping by its own node name."""
    node = WEBHOOKS_NODE_NAME.replace("%h", socket.gethostname())
    with _answering(start_genq(settings, log_path, ["webhooks"]), settings, log_path, node) as process:
        yield process


@contextmanager
def _answering(process: subprocess.Popen, settings: Settings, log_path: Path, node: str) -> Iterator[subprocess.Popen]:
    """Yields `process`, a Celery worker, once its node answers a ping; stops its group afterwards."""
    celery = Celery(set_as_current=False)
    celery.config_from_object(celery_config(settings))
    try:
        wait_for(
            lambda: process.poll() is not None or celery.control.ping(destination=[node], timeout=0.5),
            timeout=120,
            what="the worker to answer a ping",
        )
        assert process.poll() is None, f"worker exited early:\n{log_path.read_text()[-3000:]}"
        yield process
    finally:
        stop_process_group(process)
        celery.close()


def stop_process_group(process: subprocess.Popen, timeout: float = 15) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def running_web(settings: Settings, log_path: Path) -> Iterator[str]:
    """A real `genq web` (gunicorn, one worker process); yields its base URL once /healthz answers."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "web", "--port", str(port), "--workers", "1"],
            env=settings_env(settings),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, f"web exited:\n{log_path.read_text()[-3000:]}"
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(healthy, timeout=60, what="the web server")
        yield url
    finally:
        stop_process_group(process)
