"""One job's life on a worker: claim it, run its kind's executor, store the files,
finish it (or fail it with a code and a one-line message).

Holds the worker process's resources (database sessions, storage, pipeline cache),
made on first use so that they are created in the worker child, never the parent.
Knows nothing of Celery messages; worker/tasks.py hands it job ids.
"""

import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from functools import cached_property
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from db.jobs import NewArtifact, claim_job, fail_job, finish_job, record_progress
from db.models import Job
from db.session import make_session_factory
from db.settings import Settings
from db.storage import Storage, artifact_key, make_storage
from worker.executors import EXECUTORS, ArtifactOutput, Executor, JobInput
from worker.failures import JobFailure, describe_failure
from worker.pipelines import PipelineCache
from worker.progress import ThrottledProgress

log = logging.getLogger(__name__)

Outcome = Literal["succeeded", "failed"]


class JobRunner:
    def __init__(self, settings: Settings, executors: Mapping[str, Executor] = EXECUTORS) -> None:
        self.settings = settings
        self.executors = executors

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.settings.database_url)

    @cached_property
    def storage(self) -> Storage:
        return make_storage(self.settings)

    @cached_property
    def pipelines(self) -> PipelineCache:
        return PipelineCache(self.settings)

    @property
    def worker_id(self) -> str:
        # Read per call: the pid is the child's, not that of the parent that forked it.
        return f"{socket.gethostname()}:{os.getpid()}"

    def run(self, job_id: uuid.UUID) -> Outcome | None:
        """Run the job if it is still queued. Returns how this call left it, or None
        when there was nothing to do (a duplicate message) or the attempt lost its claim."""
        with self.session_factory.begin() as session:
            job = claim_job(session, job_id, worker_id=self.worker_id)
        if job is None:
            log.info("job %s is not queued any more (duplicate or late message); skipped", job_id)
            return None
        log.info("running %s job %s, attempt %d, model %s", job.kind, job.id, job.attempt, job.model)
        started = time.monotonic()
        try:
            artifacts = self._execute(job)
        except Exception as error:
            code, message = describe_failure(error)
            # A failure genq raised on purpose needs no traceback unless it wraps another error.
            expected = isinstance(error, JobFailure) and error.__cause__ is None
            log.error(
                "job %s attempt %d failed: %s: %s", job.id, job.attempt, code, message,
                exc_info=not expected,
            )
            with self.session_factory.begin() as session:
                recorded = fail_job(session, job.id, job.attempt, code=code, message=message)
            return "failed" if recorded else None
        with self.session_factory.begin() as session:
            recorded = finish_job(session, job.id, job.attempt, artifacts)
        if not recorded:
            log.warning(
                "job %s attempt %d lost its claim (canceled or taken over); results dropped",
                job.id, job.attempt,
            )
            return None
        log.info(
            "job %s succeeded in %.1f s with %d artifacts",
            job.id, time.monotonic() - started, len(artifacts),
        )
        return "succeeded"

    def _execute(self, job: Job) -> list[NewArtifact]:
        executor = self.executors.get(job.kind)
        if executor is None:
            raise JobFailure("unsupported_kind", f"this worker cannot run {job.kind!r} jobs")

        def write_progress(step: int, total: int) -> None:
            with self.session_factory.begin() as session:
                record_progress(session, job.id, job.attempt, step=step, total=total)

        progress = ThrottledProgress(write_progress, self.settings.progress_interval_seconds)
        outputs = executor(JobInput(job.id, job.model, job.params), self.pipelines, progress)
        return [self._store(job.id, output) for output in outputs]

    def _store(self, job_id: uuid.UUID, output: ArtifactOutput) -> NewArtifact:
        # The key depends only on job and index, so a retry overwrites, never duplicates.
        key = artifact_key(job_id, output.index, output.extension)
        self.storage.put(key, output.data, output.content_type)
        return NewArtifact(
            index=output.index,
            kind=output.kind,
            storage_key=key,
            content_type=output.content_type,
            bytes=len(output.data),
            sha256=hashlib.sha256(output.data).hexdigest(),
            width=output.width,
            height=output.height,
            seed=output.seed,
        )
