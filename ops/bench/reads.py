"""GET /api/v1/jobs/<id> per CPU-second, side by side with a bare Flask route.

Both served by one gunicorn worker process of `genq web`'s configuration, pinned
to the first core (the client threads get the others), in turns of
--round-seconds each, on the same database: genq's route with key auth, rate
limiting and its serializer on every request, and ops/bench/bare_read.py's one
primary-key lookup. Requests per CPU-second of the server process (read from
/proc) is the per-core figure whatever else the machine runs. The job read is a
finished one with its image (what a polling client reads last).

Goals: >= 1000 per CPU-second, and >= 0.6 of the bare route. Run:
  python -m ops.bench.reads                                  # SQLite (as `genq up`)
  GENQ_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/bench python -m ops.bench.reads
"""

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import requests

from ops.bench.harness import parse_args, prepare
from ops.bench.platform import Platform, cpu_seconds_of_tree, free_port, running_platform


def main() -> None:
    args = parse_args(__doc__, default_steps=2, add_arguments=_add_arguments)
    args.device = "cpu"
    bench = prepare(args)
    with running_platform(bench.workdir / "platform", bench.model_dir, device="cpu", max_batch=1) as platform:
        [job] = platform.wait_finished([platform.submit(bench.params(seed=0), bench.model_name)])
        genq_command = ["-m", "cli", "web", "--host", "127.0.0.1", "--workers", "1"]
        bare_command = ["-m", "ops.bench.bare_read"]
        rates: dict[str, list[float]] = {"genq": [], "bare": []}
        with (
            pinned_server(platform, genq_command, f"/api/v1/jobs/{job['id']}") as genq_url,
            pinned_server(platform, bare_command, f"/jobs/{job['id']}") as bare_url,
        ):
            headers = dict(platform.http.headers)
            for _round in range(args.rounds):
                for name, (url, pid) in (("genq", genq_url), ("bare", bare_url)):
                    rates[name].append(read_rate(url, headers, pid, args.round_seconds, args.client_threads))

    genq, bare = (statistics.median(rates[name]) for name in ("genq", "bare"))
    print(
        f"\n== reads (GET of a finished job, one gunicorn process on one core, {args.rounds} rounds of "
        f"{args.round_seconds:.0f} s each; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    )
    print(f"database: {platform.env['GENQ_DATABASE_URL'].split('://')[0]}")
    for name, median in (("genq GET /api/v1/jobs/<id>", genq), ("bare Flask one-row GET", bare)):
        runs = ", ".join(f"{rate:.0f}" for rate in rates[name.split()[0]])
        print(f"{name}: {median:.0f} requests per CPU-second (rounds: {runs})")
    print(f"genq / bare: {genq / bare:.2f}   goals: genq >= 1000 per CPU-second, ratio >= 0.6")


def _add_arguments(parser) -> None:
    parser.add_argument("--rounds", type=int, default=3, help="turns of each server")
    parser.add_argument("--round-seconds", type=float, default=8.0)
    parser.add_argument("--client-threads", type=int, default=8)


@contextmanager
def pinned_server(platform: Platform, command: list[str], path: str) -> Iterator[tuple[str, int]]:
    """A web server of this platform on its own port, on the first core when there
    are two or more; yields (url of `path`, pid) once the path answers 200."""
    port = free_port()
    server_core = {min(os.sched_getaffinity(0))}
    with open(platform.log_path.with_name(f"reads-{port}.log"), "ab") as log:
        server = subprocess.Popen(
            [sys.executable, *command, "--port", str(port)],
            cwd=platform.log_path.parent,
            env=platform.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, server_core),
        )
    try:
        url = f"http://127.0.0.1:{port}{path}"
        _wait_answering(url, dict(platform.http.headers), server)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def read_rate(url: str, headers: dict, server_pid: int, seconds: float, client_threads: int) -> float:
    """Requests per CPU-second of the server's process tree, from client threads
    on the cores the server is not pinned to."""
    cores = sorted(os.sched_getaffinity(0))
    before = set(cores)
    if len(cores) > 1:
        os.sched_setaffinity(0, set(cores[1:]))
    try:
        stop = time.monotonic() + seconds
        count = [0] * client_threads
        local = threading.local()

        def client(index: int) -> None:
            local.http = requests.Session()
            while time.monotonic() < stop:
                local.http.get(url, headers=headers, timeout=10).raise_for_status()
                count[index] += 1

        cpu_before = cpu_seconds_of_tree(server_pid)
        with ThreadPoolExecutor(client_threads) as pool:
            list(pool.map(client, range(client_threads)))
        return sum(count) / (cpu_seconds_of_tree(server_pid) - cpu_before)
    finally:
        os.sched_setaffinity(0, before)


def _wait_answering(url: str, headers: dict, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while server.poll() is None and time.monotonic() < deadline:
        try:
            if requests.get(url, headers=headers, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.1)
    raise RuntimeError(f"the web server did not answer at {url}")


if __name__ == "__main__":
    main()
