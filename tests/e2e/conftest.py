"""The production shape, with real processes: `genq web` (gunicorn) and
`genq worker` (Celery) against Postgres, Redis and moto's S3 server."""

import subprocess
import sys

import pytest
import requests

from tests.support.processes import REPO_ROOT, running_worker, settings_env, stop_process_group
from tests.support.services import free_port
from tests.support.waiting import wait_for


@pytest.fixture(scope="session")
def worker_log(tmp_path_factory):
    return tmp_path_factory.mktemp("worker") / "worker.log"


@pytest.fixture(scope="session")
def worker(platform_settings, worker_log):
    with running_worker(platform_settings, worker_log) as process:
        yield process


@pytest.fixture(scope="session")
def web_url(platform_settings, tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("web") / "web.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "web", "--port", str(port), "--workers", "1"],
            env=settings_env(platform_settings),
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


@pytest.fixture
def platform(settings, web_url, worker) -> str:
    """A clean running platform (web + worker); yields the web's base URL."""
    return web_url
