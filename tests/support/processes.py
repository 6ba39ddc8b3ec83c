"""genq processes the way production runs them: `python -m cli worker` etc.,
configured only through GENQ_* environment variables."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import requests
from celery import Celery

from db.kinds import all_worker_queues
from db.queue import celery_config
from db.settings import Settings
from tests.support.services import free_port
from tests.support.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every kind's queue and webhook deliveries, as a default `genq worker` takes.
ALL_QUEUES = ",".join(all_worker_queues())


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to see exactly these settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GENQ_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"GENQ_{name.upper()}"] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_worker(settings: Settings, log_path: Path, queues: str | None = ALL_QUEUES) -> subprocess.Popen:
    """A real Celery worker process (`genq worker`) in a process group of its own,
    its pool child included, so that a test can signal the whole worker.
    queues None: the worker's default (every kind it loads, and webhooks)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "worker", *(["--queues", queues] if queues else [])],
            env=settings_env(settings),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def running_worker(settings: Settings, log_path: Path, queues: str | None = ALL_QUEUES) -> Iterator[subprocess.Popen]:
    """A real Celery worker process; yields once it answers a ping."""
    process = start_worker(settings, log_path, queues)
    celery = Celery(set_as_current=False)
    celery.config_from_object(celery_config(settings))
    try:
        wait_for(
            lambda: process.poll() is not None or celery.control.ping(timeout=0.5),
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
