"""`genq up`'s watchdog: a process of its own that stops what `genq up` started
(the web, worker and webhook process groups, the embedded redis-server, which
daemonizes and so is nobody's child) when `genq up` ends without doing so
itself, even by SIGKILL. It holds the read end of a pipe whose only write end
`genq up` keeps: the kernel closes that at any death, and the watchdog reads EOF.
`genq up` stopping normally writes `done` first, and the watchdog leaves.

Run as `python -m cli.watchdog FD GRACE_SECONDS [--group PID]... [--process PID]...`;
never imports more than the standard library.
"""

import argparse
import contextlib
import os
import select
import signal
import time
from collections.abc import Callable

DONE = b"done"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m cli.watchdog")
    parser.add_argument("fd", type=int, help="read end of genq up's pipe")
    parser.add_argument("grace", type=float, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("--group", type=int, action="append", default=[], help="a process group to stop")
    parser.add_argument("--process", type=int, action="append", default=[], help="a process to stop")
    args = parser.parse_args()
    # Terminal signals are genq up's to handle: a Ctrl-C must not take the watchdog first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    told = b""
    while chunk := os.read(args.fd, 16):
        told += chunk
    if told == DONE:
        return
    stop(args.group, args.process, args.grace)


def stop(groups: list[int], processes: list[int], grace: float) -> None:
    """SIGTERM to each (the groups' leaders shut their own children down warmly, as
    `genq up` would have had them), up to `grace` seconds for them to exit, then
    SIGKILL to whatever is left of them."""
    for group in groups:
        _signal(os.killpg, group, signal.SIGTERM)
    for pid in processes:
        _signal(os.kill, pid, signal.SIGTERM)
    # Not our children: a pidfd per process becomes readable when it exits.
    pidfds = []
    for pid in groups + processes:
        with contextlib.suppress(ProcessLookupError):
            pidfds.append(os.pidfd_open(pid))
    if pidfds:
        _wait_all(pidfds, grace)
    for group in groups:
        _signal(os.killpg, group, signal.SIGKILL)
    for pid in processes:
        _signal(os.kill, pid, signal.SIGKILL)


def _wait_all(pidfds: list[int], grace: float) -> None:
    waiting = set(pidfds)
    deadline = time.monotonic() + grace
    while waiting and (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(list(waiting), [], [], left)
        waiting -= set(ready)


def _signal(send: Callable[[int, int], None], target: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        send(target, signum)


if __name__ == "__main__":
    main()
