"""What `make run` does, end to end: `genq up` in an empty directory with no
configuration (but the loopback webhook receiver allowed) starts SQLite, an
embedded redis-server, local storage, the tiny model, the web, a worker and the
webhook sender; a job runs and its webhooks arrive; Ctrl-C leaves no process
behind, and nothing outside var/; a second start finds the earlier job. Killed
with SIGKILL, genq up's watchdog still stops all it started and frees its ports."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from db.accounts import PREFIX_LENGTH, key_prefix
from tests.support.http import ApiUrl, download_image, get_job, pixels, submit, wait_until_finished
from tests.support.processes import REPO_ROOT
from tests.support.services import free_port
from tests.support.waiting import wait_for
from tests.support.webhooks import receiver


def processes_inside(directory: Path) -> list[int]:
    """Pids of live processes whose working directory is `directory` or below it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == str(directory) or cwd.startswith(f"{directory}/")):
            found.append(int(entry.name))
    return found


@contextmanager
def genq_up(directory: Path, port: int, home: Path, metrics_port: int):
    env = {key: value for key, value in os.environ.items() if not key.startswith("GENQ_")}
    # The settings given: the test's webhook receiver listens on loopback, and the
    # worker's metrics port is a free one (other tests on this machine may hold 9464).
    env["GENQ_WEBHOOK_ALLOWED_HOSTS"] = '["127.0.0.1"]'
    env["GENQ_WORKER_METRICS_PORT"] = str(metrics_port)
    # A home of its own with no runtime directory, so that the test sees anything
    # genq up would keep outside var/ (gunicorn's control socket went to ~/.gunicorn/).
    env["HOME"] = str(home)
    env.pop("XDG_RUNTIME_DIR", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO_ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "up", "--port", str(port)],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: process.poll() is not None or any(url in line for line in output),
            timeout=180,
            what="genq up to print its URL",
        )
        assert process.poll() is None, "".join(output)[-3000:]
        wait_for(lambda: _answers(f"{url}/readyz"), timeout=60, what="the web to be ready")
        key = (directory / "var" / "local_api_key").read_text().strip()
        banner = "".join(output)
        # The banner names the key by its prefix and says where it is; the key itself is not printed.
        assert f"API key of 'local' (kept in var/local_api_key): {key_prefix(key)}_...\n" in banner
        assert key not in banner and key[PREFIX_LENGTH:] not in banner
        # Its curl example, run as printed in the directory genq up runs in, reads the key from the file.
        (example,) = (line.strip() for line in banner.splitlines() if line.strip().startswith("curl "))
        listed = subprocess.run(
            ["bash", "-c", f"{example} --fail --silent"], cwd=directory, capture_output=True, text=True, check=True
        )
        assert "jobs" in json.loads(listed.stdout)
        yield ApiUrl(url, key), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        reader.join(timeout=5)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_genq_up_runs_a_job_with_no_configuration_and_stops_cleanly(tmp_path, tmp_path_factory):
    port, metrics_port = free_port(), free_port()
    home = tmp_path_factory.mktemp("home")
    with genq_up(tmp_path, port, home, metrics_port) as (url, process), receiver([]) as (hook, received):
        params = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 4, "seed": 42, "num_images": 2}
        job = submit(url, params, webhook_url=hook, webhook_events=["running", "succeeded"])
        done = wait_until_finished(url, job["id"])
        assert done["status"] == "succeeded", done["error"]
        # genq up's webhook sender delivered both events.
        wait_for(lambda: len(received) == 2, timeout=60, what="the job's two webhook deliveries")
        assert sorted(request["headers"]["Genq-Event"] for request in received) == ["running", "succeeded"]
        image = download_image(url, done["artifacts"][0])
        assert image.size == (64, 64) and pixels(image).std() > 5
        assert (tmp_path / "var" / "objects" / "jobs" / job["id"] / "1" / "0.png").is_file()
        assert (tmp_path / "var" / "genq.db").is_file()
        assert (tmp_path / "var" / "models" / "tiny-sd" / "model_index.json").is_file()
        # FID is on the Inception network genq up built (random weights): `fid`, not `fid_clip`.
        images = {"job_ids": [job["id"]]}
        evaluation = submit(url, {"images": images, "reference": images, "metrics": ["fid"]}, kind="evaluate")
        evaluated = wait_until_finished(url, evaluation["id"])
        assert evaluated["status"] == "succeeded", evaluated["error"]
        assert set(evaluated["result"]) == {"n_images", "n_reference", "fid"}
        assert len(processes_inside(tmp_path)) >= 3  # web, worker, redis-server at least
        assert (tmp_path / "var" / "local_api_key").stat().st_mode & 0o777 == 0o600
        # The worker's metrics, on this machine's loopback: the job it ran.
        metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        succeeded = {"kind": "generate", "outcome": "succeeded", "code": ""}
        assert [
            sample.value
            for family in text_string_to_metric_families(metrics)
            for sample in family.samples
            if sample.name == "genq_worker_jobs_total" and sample.labels == succeeded
        ] == [1]
        first_key = url.key
        # The local browser needs no key; any other caller does.
        assert requests.get(f"{url}/api/v1/jobs", timeout=10).status_code == 401
        page = requests.get(f"{url}/", timeout=10, allow_redirects=False)
        assert page.status_code == 200 and 'id="signed-in-owner">local<' in page.text

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    wait_for(lambda: not processes_inside(tmp_path), timeout=15, what="every child to exit")
    # Everything genq up keeps is under var/.
    assert [path.name for path in tmp_path.iterdir()] == ["var"]
    assert list(home.iterdir()) == []

    # Running it again reuses the data: the earlier job is still there.
    with genq_up(tmp_path, port, home, metrics_port) as (url, _process):
        assert url.key == first_key  # the same local key, read back from var/
        assert get_job(url, job["id"])["status"] == "succeeded"
    wait_for(lambda: not processes_inside(tmp_path), timeout=15, what="every child to exit")


def test_genq_up_killed_with_sigkill_leaves_no_process_and_frees_its_ports(tmp_path, tmp_path_factory):
    port, metrics_port = free_port(), free_port()
    with genq_up(tmp_path, port, home=tmp_path_factory.mktemp("home"), metrics_port=metrics_port) as (url, process):
        assert len(processes_inside(tmp_path)) >= 3  # web, worker, redis-server at least

        # No handler runs: genq up stops nothing itself.
        process.kill()
        process.wait()

    def all_gone() -> bool:
        return not processes_inside(tmp_path) and not _listening(port) and not _listening(metrics_port)

    # The watchdog's grace (10 s) for the children's warm shutdown, then SIGKILL.
    # (A process left as a zombie runs nothing: processes_inside does not count it.)
    wait_for(all_gone, timeout=60, interval=0.2, what="every process genq up started to exit and free its ports")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
