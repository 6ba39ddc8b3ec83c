"""An app per test on the real services (Postgres, Redis, moto S3, the tiny model),
clients that authenticate with a fresh API key (`client`, `client_for(owner)`) or
not at all (`anonymous_client`), and ways to put jobs in given states through
db.jobs, as the worker would."""

import base64
import json
from collections.abc import Callable

import pytest
import redis

from db import jobs
from db.accounts import KeyLimits, create_api_key
from db.kinds.generate import GENERATE_QUEUE
from db.models import Job
from db.storage import artifact_key
from web import create_app
from web.context import EXTENSION_NAME, Platform

PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def close_app(app) -> None:
    platform: Platform = app.extensions[EXTENSION_NAME]
    platform.celery.close()
    platform.engine.dispose()


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    close_app(app)


@pytest.fixture
def owner() -> str:
    """The owner `client` acts as; make_job's jobs belong to it unless told otherwise."""
    return jobs.LOCAL_OWNER


@pytest.fixture
def make_api_key(platform) -> Callable[..., str]:
    """A new live key for an owner (created if missing), with optional per-key limits; the raw key."""

    def make(owner: str, **limits) -> str:
        with platform.sessions() as session:
            _key, raw_key = create_api_key(session, owner=owner, limits=KeyLimits(**limits))
            session.commit()
        return raw_key

    return make


@pytest.fixture
def api_key(make_api_key, owner) -> str:
    return make_api_key(owner)


def authenticated_client(app, key: str):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@pytest.fixture
def client(app, api_key):
    """A test client that sends `api_key` on every request (API and pages)."""
    return authenticated_client(app, api_key)


@pytest.fixture
def anonymous_client(app):
    """A test client without a key or a session: what a stranger's browser or script is."""
    return app.test_client()


@pytest.fixture
def client_for(app, make_api_key) -> Callable[..., object]:
    """client_for("bob") is a test client acting as owner bob with a key of its own."""

    def make(owner: str, **limits):
        return authenticated_client(app, make_api_key(owner, **limits))

    return make


@pytest.fixture
def platform(app) -> Platform:
    return app.extensions[EXTENSION_NAME]


@pytest.fixture
def session(platform):
    with platform.sessions() as session:
        yield session


@pytest.fixture
def queued_job_ids(settings) -> Callable[[], list[str]]:
    """The job ids of the messages waiting in Redis's `generate` list (kombu's format)."""
    broker = redis.Redis.from_url(settings.broker_url)

    def read() -> list[str]:
        ids = []
        for raw in broker.lrange(GENERATE_QUEUE, 0, -1):
            message = json.loads(raw)
            assert message["headers"]["task"] == "genq.run_job"
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            ids.append(args[0])
        return ids

    return read


@pytest.fixture
def make_job(session, platform, owner) -> Callable[..., Job]:
    """A committed job (of `owner` unless told otherwise) moved to `status` through
    the state machine; a succeeded one gets `images` PNG artifacts put in storage."""
    default_owner = owner

    def make(
        status: str = "queued", *, owner: str = default_owner, images: int = 1, prompt: str = "a lighthouse"
    ) -> Job:
        job = jobs.create_job(
            session, owner=owner, kind="generate", model="tiny-sd", params={"prompt": prompt, "seed": 7}
        )
        session.commit()
        if status == "queued":
            return job
        claimed = jobs.claim_job(session, job.id, worker_id="test-worker")
        jobs.record_reports(session, job.id, claimed.attempt, progress=(2, 4), opening=True)
        if status == "succeeded":
            artifacts = []
            for index in range(images):
                key = artifact_key(job.id, claimed.attempt, index, "png")
                platform.storage.put(key, PNG_BYTES, "image/png")
                artifacts.append(
                    jobs.NewArtifact(
                        index=index,
                        kind="image",
                        storage_key=key,
                        content_type="image/png",
                        bytes=len(PNG_BYTES),
                        sha256=f"{index:064d}",
                        width=1,
                        height=1,
                        seed=7 + index,
                    )
                )
            assert jobs.finish_job(session, job.id, claimed.attempt, artifacts)
        elif status == "failed":
            assert jobs.fail_job(session, job.id, claimed.attempt, code="oom", message="CUDA ran out of memory")
        else:
            assert status == "running", status
        session.commit()
        session.expire_all()
        return jobs.get_job(session, job.id, owner=owner)

    return make


@pytest.fixture
def client_with(settings, api_key):
    """client_with(max_dataset_files=2) acts as `client` on an app with those settings."""
    apps = []

    def make(**overrides):
        apps.append(create_app(settings.model_copy(update=overrides)))
        return authenticated_client(apps[-1], api_key)

    yield make
    for app in apps:
        close_app(app)
