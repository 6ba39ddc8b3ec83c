"""A PostgreSQL server of a test's own (Debian's binaries, a fresh cluster on a
free port, trust auth), so that a soak can stop and restart it without touching
the server every other test shares. Postgres refuses to run as root: when the
test runs as root the server runs as the `postgres` user."""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.support.services import free_port
from tests.support.waiting import wait_for


def _binaries() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name))
    assert versions, "no PostgreSQL server binaries under /usr/lib/postgresql"
    return versions[-1]


class PostgresServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.bin = _binaries()
        # Not under pytest's tmp_path: the postgres user must be able to reach it.
        self.directory = Path(tempfile.mkdtemp(prefix="genq-postgres-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        self._run("initdb", "--auth=trust", "--username=postgres", "--no-sync", "-D", str(self.data))

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start it (again, on the same port and data); returns once it answers."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.log_path), "-o", options)
        wait_for(self.answers, timeout=30, what=f"postgres on port {self.port}")

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as a crash or a failover cuts them."""
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def answers(self) -> bool:
        try:
            with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def remove(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data), check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bin / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.directory)
        if check and result.returncode != 0:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise AssertionError(f"{program} failed: {result.stdout}{result.stderr}{log[-2000:]}")


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()
