"""An app per test on the real services (Postgres, Redis, moto S3, the tiny model),
plus ways to put jobs in given states through db.jobs, as the worker would."""

import base64
import json
from collections.abc import Callable

import pytest
import redis

from db import jobs
from db.models import Job
from db.queue import GENERATE_QUEUE
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
def client(app):
    return app.test_client()


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
def make_job(session, platform) -> Callable[..., Job]:
    """A committed job moved to `status` through the state machine; a succeeded
    one gets `images` PNG artifacts put in storage."""

    def make(
        status: str = "queued", *, owner: str = jobs.LOCAL_OWNER, images: int = 1, prompt: str = "a lighthouse"
    ) -> Job:
        job = jobs.create_job(
            session, owner=owner, kind="generate", model="tiny-sd", params={"prompt": prompt, "seed": 7}
        )
        session.commit()
        if status == "queued":
            return job
        claimed = jobs.claim_job(session, job.id, worker_id="test-worker")
        jobs.record_progress(session, job.id, claimed.attempt, step=2, total=4)
        if status == "succeeded":
            artifacts = []
            for index in range(images):
                key = artifact_key(job.id, index, "png")
                platform.storage.put(key, PNG_BYTES, "image/png")
                artifacts.append(
                    jobs.NewArtifact(
                        index=index, kind="image", storage_key=key, content_type="image/png",
                        bytes=len(PNG_BYTES), sha256=f"{index:064d}", width=1, height=1, seed=7 + index,
                    )
                )
            assert jobs.finish_job(session, job.id, claimed.attempt, artifacts)
        elif status == "failed":
            assert jobs.fail_job(
                session, job.id, claimed.attempt, code="out_of_memory", message="CUDA ran out of memory"
            )
        else:
            assert status == "running", status
        session.commit()
        session.expire_all()
        return jobs.get_job(session, job.id, owner=owner)

    return make
