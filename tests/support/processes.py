"""genq processes the way production runs them: `python -m cli worker` etc.,
configured only through GENQ_* environment variables."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery import Celery

from db.queue import celery_config
from db.settings import Settings
from tests.support.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to see exactly these settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GENQ_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"GENQ_{name.upper()}"] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_worker(settings: Settings, log_path: Path, queues: str = "generate,webhooks") -> subprocess.Popen:
    """A real Celery worker process (`genq worker`) in a process group of its own,
    its pool child included, so that a test can signal the whole worker."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "worker", "--queues", queues],
            env=settings_env(settings),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def running_worker(settings: Settings, log_path: Path, queues: str = "generate,webhooks") -> Iterator[subprocess.Popen]:
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
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
