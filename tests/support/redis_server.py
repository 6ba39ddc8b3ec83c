"""A redis-server of a test's own (Debian's, /usr/bin/redis-server) on a free port,
with no persistence, so that a fault test can kill it and start it again empty
without touching the Redis every other test shares."""

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.services import free_port
from tests.support.waiting import wait_for

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (again, on the same port), empty; returns once it answers."""
        with open(self.directory / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.directory),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._answers, timeout=15, what=f"redis-server on port {self.port}")

    def kill(self) -> None:
        """kill -9: whatever it held is gone."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def _answers(self) -> bool:
        assert self.process.poll() is None, (self.directory / "redis.log").read_text()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            return client.ping()
        except redis.ConnectionError:
            return False
        finally:
            client.close()


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.kill()
