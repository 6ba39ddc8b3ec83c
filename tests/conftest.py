"""Session-wide real services and a clean slate per test.

Postgres gets a database of its own for the session (migrated with Alembic),
Redis a db of its own (claimed with a lock key) flushed before each test, S3 is moto's HTTP server with one
bucket, and the tiny model is built offline once.
"""

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.session import make_session_factory
from db.settings import Settings
from migrations import upgrade_to_head
from tests.support.services import (
    flush_redis,
    moto_s3_server,
    postgres_database,
    redis_database,
    truncate_tables,
)


@pytest.fixture(scope="session")
def postgres_url():
    with postgres_database() as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture(scope="session")
def redis_url():
    with redis_database() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint():
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_bucket(s3_endpoint) -> str:
    name = f"genq-test-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """A models directory holding the tiny SD-shaped model (image), the tiny
    GPT-2-shaped one (text) the tiny VITS (speech) and the tiny
    CLIP (clip), built offline once."""
    from worker.tiny_clip_models import build_tiny_clip
    from worker.tiny_models import build_tiny_sd
    from worker.tiny_speech_models import build_tiny_vits
    from worker.tiny_text_models import build_tiny_gpt2

    root = tmp_path_factory.mktemp("models")
    build_tiny_sd(root / "tiny-sd")
    build_tiny_gpt2(root / "tiny-text")
    build_tiny_vits(root / "tiny-speech")
    build_tiny_clip(root / "tiny-clip")
    return root


@pytest.fixture(scope="session")
def fid_inception_weights(tmp_path_factory) -> Path:
    """FID's Inception v3 with random weights (worker/inception.py), built once."""
    from worker.inception import build_random_fid_inception

    return build_random_fid_inception(tmp_path_factory.mktemp("inception") / "fid_inception.safetensors")


@pytest.fixture(scope="session")
def upscaler_models_dir(models_dir, tmp_path_factory) -> Path:
    """models_dir's models (linked), the tiny x4 upscaler `tiny-upscaler` and the tiny
    x2 latent upscaler `tiny-latent-upscaler`, built offline once: a directory of its
    own, as other tests assert models_dir's listing."""
    from worker.tiny_models import build_tiny_latent_upscaler, build_tiny_upscaler

    root = tmp_path_factory.mktemp("upscaler-models")
    for model in models_dir.iterdir():
        (root / model.name).symlink_to(model)
    build_tiny_upscaler(root / "tiny-upscaler")
    build_tiny_latent_upscaler(root / "tiny-latent-upscaler")
    return root


@pytest.fixture(scope="session")
def platform_settings(postgres_url, redis_url, s3_endpoint, s3_bucket, models_dir) -> Settings:
    """Production-shaped settings: Postgres, Redis, S3 (moto), the tiny model."""
    return Settings(
        _env_file=None,
        database_url=postgres_url,
        broker_url=redis_url,
        storage_url=f"s3://{s3_bucket}",
        s3_endpoint_url=s3_endpoint,
        models_dir=models_dir,
        secret_key="test-secret-key",
        progress_interval_seconds=0.2,
        # Tests poll fast; tests/api/test_limits.py sets the limits it checks per key or app.
        requests_per_minute=100_000,
        unauthenticated_requests_per_minute=100_000,
        # The tests' webhook receivers listen on loopback, and should not wait long for retries.
        webhook_allowed_hosts=["127.0.0.1"],
        webhook_retry_base_seconds=0.2,
        # Several workers run at once on this machine: a test that scrapes one gives it a port.
        worker_metrics_port=0,
    )


@pytest.fixture
def settings(platform_settings) -> Settings:
    """platform_settings with an empty database and an empty Redis db."""
    truncate_tables(platform_settings.database_url)
    flush_redis(platform_settings.broker_url)
    return platform_settings


@pytest.fixture
def sessions(settings) -> Iterator[sessionmaker[Session]]:
    """A session factory on that empty database, as a worker process has one."""
    factory = make_session_factory(settings.database_url)
    yield factory
    factory.kw["bind"].dispose()
