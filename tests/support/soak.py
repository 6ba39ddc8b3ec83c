"""The soak: jobs of every kind through several real `genq worker` processes and a
real `genq web`, on a Postgres, a redis-server and an S3 server of its own, while
faults strike at random times (seeded): workers SIGKILLed and SIGTERMed, Redis
restarted empty, Postgres stopped and started, storage cut off, the retention
sweeper run. Afterwards it reports what a user and an operator would check: jobs
lost, jobs with two result sets, jobs stuck, failures without a code, the web's
answers while the database was down, and objects no row references.

tests/faults/test_soak.py runs a CI-sized plan; `python -m ops.soak` the full one."""

import hashlib
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from db.accounts import create_api_key
from db.models import Artifact, DatasetFile, Job, Upload
from db.retention import sweep_expired
from db.session import make_session_factory
from db.settings import Settings
from db.storage import make_storage
from migrations import upgrade_to_head
from tests.support.fault_proxy import FaultProxy
from tests.support.postgres_server import PostgresServer, postgres_server
from tests.support.processes import running_web, start_worker
from tests.support.redis_server import RedisServer, redis_server
from tests.support.services import moto_s3_server
from tests.support.training import training_pngs
from tests.support.uploads import png_bytes, ramp_image
from tests.support.waiting import wait_for

FINISHED = {"succeeded", "failed", "canceled"}
FAULTS = ("kill_worker", "term_worker", "restart_redis", "restart_postgres", "cut_storage", "sweep")


@dataclass(frozen=True)
class SoakPlan:
    jobs: int = 100
    workers: int = 4
    # Faults strike at random times while jobs are submitted and run, cycling
    # through every kind of fault before repeating one.
    faults: int = 6
    seed: int = 7
    # How long a database or storage outage lasts.
    outage_seconds: float = 4.0
    # How long the submissions are spread over.
    submit_seconds: float = 40.0
    timeout_seconds: float = 900.0


@dataclass
class SoakReport:
    submitted: int = 0
    statuses: Counter = field(default_factory=Counter)
    failure_codes: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    faults: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    failed_without_code: list[str] = field(default_factory=list)
    two_result_sets: list[str] = field(default_factory=list)
    unreferenced_objects: list[str] = field(default_factory=list)
    missing_objects: list[str] = field(default_factory=list)
    # Status codes the web answered while the database was down (0: no answer).
    answers_while_database_down: Counter = field(default_factory=Counter)
    # Answers to submissions other than 202/200 and the 503/429 a client retries.
    refused_submissions: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """What must be empty after a soak."""
        found = [
            f"{name}: {value}"
            for name, value in (
                ("lost", self.lost),
                ("stuck", self.stuck),
                ("failed without a code", self.failed_without_code),
                ("two result sets", self.two_result_sets),
                ("unreferenced objects", self.unreferenced_objects),
                ("missing objects", self.missing_objects),
                ("refused submissions", dict(self.refused_submissions)),
            )
            if value
        ]
        if self.answers_while_database_down[500]:
            found.append(f"500s while the database was down: {dict(self.answers_while_database_down)}")
        return found

    def summary(self) -> str:
        return "\n".join(
            [
                f"{self.submitted} jobs ({dict(self.kinds)}) in {self.seconds:.0f} s",
                f"statuses: {dict(self.statuses)}; failure codes: {dict(self.failure_codes)}",
                f"faults: {', '.join(self.faults)}",
                f"answers while the database was down: {dict(self.answers_while_database_down)}",
                f"lost {len(self.lost)}, two result sets {len(self.two_result_sets)}, stuck {len(self.stuck)}, "
                f"failed without a code {len(self.failed_without_code)}, unreferenced objects "
                f"{len(self.unreferenced_objects)}, missing objects {len(self.missing_objects)}",
            ]
        )


class Soak:
    def __init__(self, plan: SoakPlan, directory: Path, models_dir: Path) -> None:
        self.plan = plan
        self.directory = directory
        self.models_dir = models_dir
        self.random = random.Random(plan.seed)
        self.report = SoakReport()
        self.accepted: list[uuid.UUID] = []
        self.workers: list[Any] = []
        self._worker_count = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> SoakReport:
        started = time.monotonic()
        with self._platform():
            self._prepare_inputs()
            faults = threading.Thread(target=self._strike, name="soak-faults")
            faults.start()
            try:
                self._submit_all()
                self._wait_finished(lambda: self._stop.is_set() or self._all_finished(), "the jobs")
            finally:
                self._stop.set()
                faults.join()
            self._wait_finished(self._all_finished, "the jobs after the last fault")
            self._sweep_leftovers()
            self._check()
        self.report.seconds = time.monotonic() - started
        return self.report

    # The platform

    @contextmanager
    def _platform(self) -> Iterator[None]:
        with ExitStack() as stack:
            self.postgres: PostgresServer = stack.enter_context(postgres_server())
            upgrade_to_head(self.postgres.url)
            self.redis: RedisServer = stack.enter_context(redis_server(self.directory))
            s3_endpoint = stack.enter_context(moto_s3_server())
            self.s3 = boto3.client("s3", endpoint_url=s3_endpoint)
            self.bucket = f"genq-soak-{uuid.uuid4().hex[:8]}"
            self.s3.create_bucket(Bucket=self.bucket)
            host, port = s3_endpoint.removeprefix("http://").split(":")
            self.storage_proxy = FaultProxy(host, int(port))
            stack.callback(self.storage_proxy.close)
            self.settings = Settings(
                _env_file=None,
                database_url=self.postgres.url,
                broker_url=self.redis.url,
                storage_url=f"s3://{self.bucket}",
                s3_endpoint_url=self.storage_proxy.url,
                models_dir=self.models_dir,
                secret_key="soak-secret-key",
                progress_interval_seconds=0.2,
                lease_seconds=2.0,
                heartbeat_seconds=0.5,
                maintenance_interval_seconds=0.5,
                resend_after_seconds=2.0,
                retry_backoff_seconds=0.5,
                # The maintenance threads sweep each job's leftovers right after it ends.
                checkpoint_retention_hours=0.0,
                requests_per_minute=1_000_000,
                unauthenticated_requests_per_minute=1_000_000,
                max_active_jobs=100_000,
                # Several workers on one machine: none serves metrics.
                worker_metrics_port=0,
            )
            self.sessions = make_session_factory(self.settings.database_url)
            stack.callback(lambda: self.sessions.kw["bind"].dispose())
            with self.sessions.begin() as session:
                _key, raw_key = create_api_key(session, owner="soak")
            self.http = requests.Session()
            self.http.headers["Authorization"] = f"Bearer {raw_key}"
            self.web_url = stack.enter_context(running_web(self.settings, self.directory / "web.log"))
            stack.callback(self._stop_workers)
            for _ in range(self.plan.workers):
                self._start_worker()
            wait_for(
                lambda: all(" ready." in self._log(worker) for worker in self.workers),
                timeout=180,
                what="the workers to be ready",
            )
            yield

    def _start_worker(self) -> None:
        log_path = self.directory / f"worker-{self._worker_count}.log"
        self._worker_count += 1
        self.workers.append((start_worker(self.settings, log_path), log_path))

    def _log(self, worker: Any) -> str:
        process, log_path = worker
        assert process.poll() is None or process.returncode in (0, -signal.SIGKILL), log_path.read_text()[-3000:]
        return log_path.read_text(errors="replace")

    def _stop_workers(self) -> None:
        for process, _log_path in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    # Jobs

    def _prepare_inputs(self) -> None:
        image = png_bytes(ramp_image((64, 64)))
        response = self.http.post(f"{self.web_url}/api/v1/uploads", files={"file": ("ramp.png", image)}, timeout=30)
        assert response.status_code == 201, response.text
        self.upload_id = response.json()["id"]
        files = [("files", (f"{index}.png", png)) for index, png in enumerate(training_pngs(4))]
        response = self.http.post(f"{self.web_url}/api/v1/datasets", files=files, timeout=30)
        assert response.status_code == 201, response.text
        self.dataset_id = response.json()["id"]

    def _job_body(self) -> dict[str, Any]:
        """A job of a kind drawn by weight: mostly images (some alike, so that they batch)."""
        seed = self.random.randrange(1_000_000)
        bodies: list[tuple[int, dict[str, Any]]] = [
            (
                30,
                {
                    "kind": "generate",
                    "params": {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 4, "seed": seed},
                },
            ),
            (
                20,
                {
                    "kind": "generate",
                    "params": {
                        "prompt": "two boats",
                        "width": 64,
                        "height": 64,
                        "steps": 4,
                        "num_images": 2,
                        "seed": 11,
                    },
                },
            ),
            (12, {"kind": "textgen", "params": {"prompt": "Once upon a time", "max_new_tokens": 8, "seed": seed}}),
            (10, {"kind": "speech", "params": {"text": "Hello there.", "seed": seed}}),
            (10, {"kind": "upscale", "params": {"image": self.upload_id, "scale": 2, "upscaler": "lanczos"}}),
            (
                8,
                {
                    "kind": "evaluate",
                    "params": {
                        "images": {"upload_ids": [self.upload_id]},
                        "prompts": ["a ramp"],
                        "metrics": ["clip_score"],
                    },
                },
            ),
            (
                4,
                {
                    "kind": "finetune",
                    "params": {
                        "dataset_id": self.dataset_id,
                        "instance_prompt": "a photo of sks",
                        "resolution": 64,
                        "max_train_steps": 4,
                        "batch_size": 1,
                        "lr_warmup_steps": 0,
                        "checkpointing_steps": 2,
                        "seed": seed,
                    },
                },
            ),
        ]
        [body] = self.random.choices([body for _weight, body in bodies], [weight for weight, _body in bodies])
        return body

    def _submit_all(self) -> None:
        interval = self.plan.submit_seconds / self.plan.jobs
        for _ in range(self.plan.jobs):
            body = self._job_body()
            job_id = self._submit(body)
            if job_id is not None:
                with self._lock:
                    self.accepted.append(job_id)
                self.report.kinds[body["kind"]] += 1
            self._stop.wait(interval)
        self.report.submitted = len(self.accepted)

    def _submit(self, body: dict[str, Any]) -> uuid.UUID | None:
        """POST it as a careful client does: one Idempotency-Key, retried through
        outages (503, no answer) until the platform answers for good."""
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + self.plan.timeout_seconds
        while time.monotonic() < deadline:
            try:
                response = self.http.post(f"{self.web_url}/api/v1/jobs", json=body, headers=headers, timeout=30)
            except requests.RequestException:
                self._stop.wait(0.2)
                continue
            if response.status_code in (200, 202):
                return uuid.UUID(response.json()["id"])
            if response.status_code not in (429, 503):
                self.report.refused_submissions[f"{response.status_code} {response.text[:200]}"] += 1
                return None
            self._stop.wait(0.2)
        self.report.refused_submissions["no answer before the timeout"] += 1
        return None

    def _jobs(self) -> list[Job]:
        with self._lock:
            ids = list(self.accepted)
        with self.sessions() as session:
            return list(session.scalars(select(Job).where(Job.id.in_(ids)).options(selectinload(Job.artifacts))))

    def _all_finished(self) -> bool:
        with self._lock:
            expected = len(self.accepted)
        jobs = self._jobs()
        return len(jobs) == expected and all(job.status in FINISHED for job in jobs)

    def _wait_finished(self, condition: Callable[[], bool], what: str) -> None:
        wait_for(condition, timeout=self.plan.timeout_seconds, interval=0.5, what=what)

    # Faults

    def _strike(self) -> None:
        """The faults at random moments within the submissions' span (which lasts at
        least submit_seconds), so that every one strikes while jobs come and run,
        however fast they run; every kind of fault before one repeats."""
        started = time.monotonic()
        span = self.plan.submit_seconds
        # One moment in each of `faults` equal slots: none strikes on another's heels.
        slot = span / max(self.plan.faults, 1)
        moments = [(index + self.random.uniform(0.1, 0.9)) * slot for index in range(self.plan.faults)]
        cycle: list[str] = []
        for moment in moments:
            if self._stop.wait(max(0.0, started + moment - time.monotonic())):
                return
            if not cycle:
                cycle = self.random.sample(FAULTS, len(FAULTS))
            fault = cycle.pop()
            self.report.faults.append(fault)
            getattr(self, f"_fault_{fault}")()

    def _live_workers(self) -> list[Any]:
        return [worker for worker in self.workers if worker[0].poll() is None]

    def _fault_kill_worker(self) -> None:
        self._replace_worker(signal.SIGKILL)

    def _fault_term_worker(self) -> None:
        self._replace_worker(signal.SIGTERM)

    def _replace_worker(self, signum: int) -> None:
        """SIGKILL takes the whole worker (a lost machine); SIGTERM goes to its main
        process only, as Kubernetes and systemd send it."""
        process, _log_path = self.random.choice(self._live_workers())
        if signum == signal.SIGKILL:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        self._start_worker()

    def _fault_restart_redis(self) -> None:
        self.redis.kill()
        self.redis.start()

    def _fault_restart_postgres(self) -> None:
        self.postgres.stop()
        outage_ends = time.monotonic() + self.plan.outage_seconds
        while time.monotonic() < outage_ends:
            self._probe_web()
        self.postgres.start()

    def _probe_web(self) -> None:
        """What a user sees while the database is down: a job page and a submission."""
        with self._lock:
            job_id = self.accepted[-1] if self.accepted else uuid.uuid4()
        for method, path, body in (
            ("GET", f"/api/v1/jobs/{job_id}", None),
            ("POST", "/api/v1/jobs", {"params": {"prompt": "while the database is down", "width": 64, "height": 64}}),
        ):
            try:
                status = self.http.request(method, f"{self.web_url}{path}", json=body, timeout=10).status_code
            except requests.RequestException:
                status = 0
            self.report.answers_while_database_down[status] += 1

    def _fault_cut_storage(self) -> None:
        self.storage_proxy.cut()
        self._stop.wait(self.plan.outage_seconds)
        self.storage_proxy.restore()

    def _fault_sweep(self) -> None:
        sweep_expired(self.sessions, make_storage(self.settings), self.settings)

    # The checks

    def _sweep_leftovers(self) -> None:
        """Once every job has ended, each one's leftovers (checkpoints, objects of lost
        attempts) are swept: by the workers' maintenance, and here until done."""
        storage = make_storage(self.settings)

        def swept() -> bool:
            sweep_expired(self.sessions, storage, self.settings)
            return all(job.leftovers_swept_at is not None for job in self._jobs())

        wait_for(swept, timeout=120, interval=0.5, what="the leftovers of every job to be swept")

    def _check(self) -> None:
        report = self.report
        jobs = {job.id: job for job in self._jobs()}
        report.lost = [str(job_id) for job_id in self.accepted if job_id not in jobs]
        for job in jobs.values():
            report.statuses[job.status] += 1
            if job.status not in FINISHED:
                report.stuck.append(str(job.id))
            if job.status == "failed":
                report.failure_codes[job.error_code] += 1
                if not job.error_code:
                    report.failed_without_code.append(str(job.id))
            indexes = [artifact.index for artifact in job.artifacts]
            if sorted(indexes) != list(range(len(indexes))):
                report.two_result_sets.append(str(job.id))
        stored = {item["Key"]: item for item in self._bucket_listing()}
        with self.sessions() as session:
            artifacts = list(session.scalars(select(Artifact).where(Artifact.expired_at.is_(None))))
            referenced = {artifact.storage_key for artifact in artifacts}
            referenced |= set(session.scalars(select(Upload.storage_key)))
            referenced |= set(session.scalars(select(DatasetFile.storage_key)))
        report.unreferenced_objects = sorted(set(stored) - referenced)
        report.missing_objects = sorted(referenced - set(stored))
        for artifact in artifacts:
            if artifact.storage_key in stored:
                body = self.s3.get_object(Bucket=self.bucket, Key=artifact.storage_key)["Body"].read()
                if hashlib.sha256(body).hexdigest() != artifact.sha256:
                    report.two_result_sets.append(f"{artifact.job_id} (object {artifact.storage_key} differs)")

    def _bucket_listing(self) -> list[dict[str, Any]]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return [item for page in pages for item in page.get("Contents", [])]


def run_soak(plan: SoakPlan, directory: Path, models_dir: Path) -> SoakReport:
    return Soak(plan, directory, models_dir).run()
