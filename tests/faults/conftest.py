"""Fault tests: real `genq worker` processes, with a redis-server and a Postgres
database of each test's own, so that a test can kill, pause and restart them
without disturbing the rest of the suite. Jobs are submitted through the web
app (in process, with an API key) and checked in the database and storage,
which is what a user would see. Leases are short (2 s) so recovery is quick.
"""

import hashlib
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from db.accounts import create_api_key
from db.models import Job
from db.session import make_session_factory
from db.settings import Settings
from db.storage import make_storage
from migrations import upgrade_to_head
from tests.api.conftest import authenticated_client, close_app
from tests.support.processes import start_worker
from tests.support.redis_server import RedisServer, redis_server
from tests.support.services import postgres_database
from tests.support.waiting import wait_for
from web import create_app

FINISHED = {"succeeded", "failed", "canceled"}


def lease_holder_pid(job: Job) -> int:
    return int(job.lease_owner.rsplit(":", 1)[1])


@dataclass
class Worker:
    """One `genq worker`: its main process leads a process group that holds its pool child."""

    process: subprocess.Popen
    log_path: Path

    def runs(self, job: Job) -> bool:
        """Whether a live process of this worker holds the job's lease (lease_owner is host:pid)."""
        if job.lease_owner is None:
            return False
        try:
            stat = Path(f"/proc/{lease_holder_pid(job)}/stat").read_text()
        except FileNotFoundError:
            return False
        # After "pid (command)": state, parent pid, process group. A killed child stays a
        # zombie until its parent notices; it runs nothing.
        state, _parent, group = stat.rsplit(")", 1)[1].split()[:3]
        return state != "Z" and int(group) == self.process.pid

    def signal_all(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def is_ready(self) -> bool:
        assert self.process.poll() is None, f"worker exited:\n{self.log()[-3000:]}"
        return " ready." in self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Cluster:
    """What a fault test drives: workers to start, kill and pause; the web app to
    submit through; the database and storage to check."""

    def __init__(self, settings: Settings, redis: RedisServer, directory: Path) -> None:
        self.settings = settings
        self.redis = redis
        self.directory = directory
        self.workers: list[Worker] = []
        self.sessions = make_session_factory(settings.database_url)
        self.storage = make_storage(settings)
        self.app = create_app(settings)
        with self.sessions.begin() as session:
            _key, raw_key = create_api_key(session, owner="faults")
        self.client = authenticated_client(self.app, raw_key)

    def start_worker(self, *, wait: bool = True, queues: str = "generate") -> Worker:
        log_path = self.directory / f"worker-{len(self.workers)}.log"
        worker = Worker(start_worker(self.settings, log_path, queues=queues), log_path)
        self.workers.append(worker)
        if wait:
            wait_for(worker.is_ready, timeout=120, what=f"worker {len(self.workers)} to be ready")
        return worker

    def submit(self, count: int = 1, *, model: str | None = None, **params) -> list[uuid.UUID]:
        body = {"params": {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, **params}}
        if model is not None:
            body["model"] = model
        ids = []
        for _ in range(count):
            response = self.client.post("/api/v1/jobs", json=body)
            assert response.status_code == 202, response.json
            ids.append(uuid.UUID(response.json["id"]))
        return ids

    def jobs(self, ids: list[uuid.UUID] | None = None) -> list[Job]:
        query = select(Job).options(selectinload(Job.artifacts)).order_by(Job.created_at)
        if ids is not None:
            query = query.where(Job.id.in_(ids))
        with self.sessions() as session:
            return list(session.scalars(query))

    def job(self, job_id: uuid.UUID) -> Job:
        [job] = self.jobs([job_id])
        return job

    def running_job(self, workers: list[Worker] | None = None) -> tuple[Job, Worker] | None:
        """A job some worker is in the first half of (past its first step, so well
        before it could finish while a test acts on it), and that worker."""
        for job in self.jobs():
            if job.status == "running" and 1 <= job.progress_step <= job.progress_total // 2:
                for worker in workers or self.workers:
                    if worker.process.poll() is None and worker.runs(job):
                        return job, worker
        return None

    def wait_until_finished(self, ids: list[uuid.UUID], timeout: float) -> list[Job]:
        def all_finished() -> list[Job] | None:
            jobs = self.jobs(ids)
            return jobs if all(job.status in FINISHED for job in jobs) else None

        return wait_for(all_finished, timeout=timeout, interval=0.2, what=f"{len(ids)} jobs to finish")

    def assert_one_result_set_each(self, jobs: list[Job]) -> None:
        """Each job has exactly its images, and storage holds exactly the bytes the rows describe."""
        for job in jobs:
            assert [artifact.index for artifact in job.artifacts] == list(range(job.params["num_images"])), job.id
            for artifact in job.artifacts:
                assert hashlib.sha256(self.storage.get(artifact.storage_key)).hexdigest() == artifact.sha256

    def close(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.signal_all(signal.SIGKILL)  # the test is over: no need to wait for jobs
            worker.process.wait()
        close_app(self.app)
        self.sessions.kw["bind"].dispose()


@pytest.fixture
def fault_redis(tmp_path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def fault_database() -> Iterator[str]:
    with postgres_database() as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture
def fault_settings(tmp_path, models_dir, fault_database, fault_redis) -> Settings:
    return Settings(
        _env_file=None,
        database_url=fault_database,
        broker_url=fault_redis.url,
        storage_url=f"file://{tmp_path / 'objects'}",
        models_dir=models_dir,
        secret_key="test-secret-key",
        progress_interval_seconds=0.2,
        lease_seconds=2.0,
        heartbeat_seconds=0.5,
        maintenance_interval_seconds=0.5,
        resend_after_seconds=2.0,
        retry_backoff_seconds=0.5,
        worker_metrics_port=0,  # several workers per test
    )


@pytest.fixture
def make_cluster(fault_settings, fault_redis, tmp_path) -> Iterator[Callable[..., Cluster]]:
    """make_cluster(**settings overrides): the test's cluster (one per test)."""
    made: list[Cluster] = []

    def make(**overrides) -> Cluster:
        assert not made, "one cluster per test"
        made.append(Cluster(fault_settings.model_copy(update=overrides), fault_redis, tmp_path))
        return made[0]

    yield make
    for cluster in made:
        cluster.close()


@pytest.fixture
def cluster(make_cluster) -> Cluster:
    return make_cluster()
