"""Many watchers on one web tier: N followers at once, each submitting a job (an
upscale by Pillow's lanczos of one small upload: a job of a few milliseconds, so
the web, not the worker, is what is measured) and following it by Server-Sent
Events to `done`, beside pollers that GET jobs as a status page would. A bounded asyncio client on loopback only: every connection is
counted (--followers, --pollers) and every round ends by --seconds.

For each N it prints the `done` event's lag (received minus the job's finished_at,
both this machine's clock: an upper bound of commit-to-subscriber), the pollers'
latency, errors (any status but the expected one, a stream cut before `done`),
requests per second and the web's CPU (its gunicorn processes).

  python -m ops.bench.load --followers 100 1000 2000            # tiny model, SQLite
  GENQ_DATABASE_URL=postgresql+psycopg://127.0.0.1/genq_bench python -m ops.bench.load
"""

import asyncio
import io
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image

from ops.bench.harness import parse_args, prepare
from ops.bench.platform import children_of, cpu_seconds_of_tree, running_platform
from ops.bench.watchers import Endpoint, open_stream, percentile, request

# Connections being opened at once: the rest wait their turn (the listen backlog is finite).
OPENING_AT_ONCE = 256


@dataclass
class Tally:
    lags: list[float] = field(default_factory=list)
    poll_seconds: list[float] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)


async def follower(endpoint: Endpoint, job: dict[str, Any], tally: Tally, opening: asyncio.Semaphore) -> None:
    async with opening:
        status, created = await request(endpoint, "POST", "/api/v1/jobs", job)
        tally.requests += 1
        if status != 202:
            tally.errors.append(f"submit answered {status}: {created}")
            return
        status, events = await open_stream(endpoint, created["id"])
        tally.requests += 1
    if status != 200:
        tally.errors.append(f"events answered {status}")
        return
    done_at = None
    async for event in events:
        if event.type == "done":
            done_at = event.received_at
            break
    if done_at is None:
        tally.errors.append(f"the stream of {created['id']} ended before done")
        return
    status, finished = await request(endpoint, "GET", f"/api/v1/jobs/{created['id']}")
    tally.requests += 1
    if status != 200:
        tally.errors.append(f"the finished job answered {status}")
        return
    tally.lags.append(done_at - datetime.fromisoformat(finished["finished_at"]).timestamp())


async def poller(endpoint: Endpoint, job_ids: list[str], tally: Tally, stop: asyncio.Event, interval: float) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        status, _job = await request(endpoint, "GET", f"/api/v1/jobs/{random.choice(job_ids)}")
        tally.poll_seconds.append(time.perf_counter() - started)
        tally.requests += 1
        if status != 200:
            tally.errors.append(f"poll answered {status}")
        await asyncio.sleep(interval)


async def load_round(
    endpoint: Endpoint, job: dict[str, Any], followers: int, pollers: int, poll_ids: list[str], seconds: float
) -> Tally:
    tally = Tally()
    opening = asyncio.Semaphore(OPENING_AT_ONCE)
    stop = asyncio.Event()
    polling = [asyncio.create_task(poller(endpoint, poll_ids, tally, stop, 1.0)) for _ in range(pollers)]
    following = [asyncio.create_task(follower(endpoint, job, tally, opening)) for _ in range(followers)]
    _finished, unfinished = await asyncio.wait(following, timeout=seconds)
    for task in unfinished:
        task.cancel()
    tally.errors += [f"a follower was not done after {seconds:g} s"] * len(unfinished)
    stop.set()
    await asyncio.gather(*polling, *unfinished, return_exceptions=True)
    return tally


def web_pid(platform_pid: int) -> int:
    """The `genq web` child of `genq up` (gunicorn's master; its workers are its children)."""
    for pid in children_of(platform_pid):
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"web" in arguments and b"--port" in arguments:
            return pid
    raise RuntimeError("genq up has no web child")


def main() -> None:
    args = parse_args(__doc__, default_steps=1, add_arguments=_add_arguments)
    bench = prepare(args)
    # Enough streams for the largest round.
    settings = {"max_event_streams": max(args.followers) + 100}
    print(f"== load: followers {args.followers}, {args.pollers} pollers, {time.strftime('%Y-%m-%d %H:%M UTC')}")
    print("followers  errors  done-lag p50/p99 ms  poll p50/p99 ms  requests/s  web CPU s  web cores")
    with running_platform(bench.workdir / "platform", bench.model_dir, **settings) as platform:
        endpoint = Endpoint.of(platform.url, platform.api_key)
        server = web_pid(platform.pid)
        upload = platform.http.post(f"{platform.url}/api/v1/uploads", files={"file": ("small.png", _small_png())})
        upload.raise_for_status()
        job = {"kind": "upscale", "params": {"image": upload.json()["id"], "scale": 2, "upscaler": "lanczos"}}
        first = platform.http.post(f"{platform.url}/api/v1/jobs", json=job)
        first.raise_for_status()
        poll_ids = [first.json()["id"]]
        platform.wait_finished(poll_ids)
        for followers in args.followers:
            cpu_before, started = cpu_seconds_of_tree(server), time.monotonic()
            tally = asyncio.run(load_round(endpoint, job, followers, args.pollers, poll_ids, args.seconds))
            wall, cpu = time.monotonic() - started, cpu_seconds_of_tree(server) - cpu_before
            lags = [1000 * lag for lag in tally.lags]
            polls = [1000 * seconds for seconds in tally.poll_seconds]
            print(
                f"{followers:9d}  {len(tally.errors):6d}  {percentile(lags, 0.5):8.0f} / {percentile(lags, 0.99):6.0f}"
                f"  {percentile(polls, 0.5):7.1f} / {percentile(polls, 0.99):6.1f}"
                f"  {tally.requests / wall:10.0f}  {cpu:9.1f}  {cpu / wall:9.2f}"
            )
            for error in sorted(set(tally.errors))[:5]:
                print(f"    error: {error}")
    if tally.lags:
        print(f"done lag over the last round: mean {statistics.fmean(lags):.0f} ms")


def _small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def _add_arguments(parser) -> None:
    parser.add_argument("--followers", type=int, nargs="+", default=[100, 1000, 2000])
    parser.add_argument("--pollers", type=int, default=50, help="each GETs a job once a second")
    parser.add_argument("--seconds", type=float, default=600.0, help="a round's limit")


if __name__ == "__main__":
    main()
