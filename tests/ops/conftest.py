"""Fixtures for the operations tests: a Postgres database and a redis-server of
their own (real `genq web` and `genq worker` processes run against them, apart
from the suite's shared worker), and an API key."""

from collections.abc import Iterator

import pytest

from db.accounts import create_api_key
from db.session import make_session_factory
from db.settings import Settings
from migrations import upgrade_to_head
from tests.support.redis_server import RedisServer, redis_server
from tests.support.services import postgres_database


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def own_database() -> Iterator[str]:
    with postgres_database() as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture
def ops_settings(tmp_path, models_dir, own_database, own_redis) -> Settings:
    return Settings(
        _env_file=None,
        database_url=own_database,
        broker_url=own_redis.url,
        storage_url=f"file://{tmp_path / 'objects'}",
        models_dir=models_dir,
        secret_key="test-secret-key",
        progress_interval_seconds=0.2,
        requests_per_minute=100_000,
        worker_metrics_port=0,
    )


@pytest.fixture
def ops_api_key(ops_settings) -> str:
    sessions = make_session_factory(ops_settings.database_url)
    with sessions.begin() as session:
        _key, raw_key = create_api_key(session, owner="ops")
    sessions.kw["bind"].dispose()
    return raw_key
