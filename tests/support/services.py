"""Start (or connect to) the real services the suite runs against.

Postgres and Redis are the machine's own (127.0.0.1:5432 / :6379, overridable
with GENQ_TEST_POSTGRES_URL / GENQ_TEST_REDIS_URL); S3 is moto's HTTP server.
"""

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import redis
from moto.server import ThreadedMotoServer
from psycopg.errors import DeadlockDetected
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from db.models import Base
from db.session import make_engine

POSTGRES_ADMIN_URL = os.environ.get("GENQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER_URL = os.environ.get("GENQ_TEST_REDIS_URL", "redis://127.0.0.1:6379")
SESSION_LOCK_KEY = "genq-test-session"
TRUNCATE_ATTEMPTS = 5


@contextmanager
def postgres_database() -> Iterator[str]:
    """A database of its own for this test session; dropped afterwards."""
    admin = make_url(POSTGRES_ADMIN_URL)
    name = f"genq_test_{uuid.uuid4().hex[:12]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_tables(database_url: str) -> None:
    """Empty every table of the models (children first).

    A session-wide worker (tests/e2e) may be writing meanwhile; Postgres then can
    pick the TRUNCATE as a deadlock's victim, and it is simply run again."""
    tables = list(reversed(Base.metadata.sorted_tables))
    engine = make_engine(database_url)
    for attempt in range(1, TRUNCATE_ATTEMPTS + 1):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(text(f"TRUNCATE {', '.join(t.name for t in tables)} CASCADE"))
                else:
                    for table in tables:
                        connection.execute(table.delete())
            break
        except OperationalError as error:
            if not isinstance(error.orig, DeadlockDetected) or attempt == TRUNCATE_ATTEMPTS:
                raise
    engine.dispose()


@contextmanager
def redis_database() -> Iterator[str]:
    """A Redis db number no other test session on this server holds, flushed for us.

    Each db 1..15 is claimed with a lock key inside it, so two suites running at
    once (two checkouts, CI beside a developer) never drain each other's queues."""
    for number in range(1, 16):
        url = f"{REDIS_SERVER_URL}/{number}"
        client = redis.Redis.from_url(url)
        if client.set(SESSION_LOCK_KEY, os.getpid(), nx=True, ex=6 * 3600):
            try:
                yield url
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    raise RuntimeError(f"every Redis db on {REDIS_SERVER_URL} is held by another test session")


def flush_redis(url: str) -> None:
    """Empty the db but keep this session's claim on it."""
    client = redis.Redis.from_url(url)
    owner = client.get(SESSION_LOCK_KEY)
    client.flushdb()
    client.set(SESSION_LOCK_KEY, owner, ex=6 * 3600)
    client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """moto's real HTTP server speaking S3; yields its endpoint URL."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
