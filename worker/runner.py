"""One job's life on a worker: claim it, run its kind's executor under a lease
kept by a heartbeat, store the files, finish it (or fail it with a code and a
one-line message, or put it back for a retry).

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
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Literal, TypeVar

from sqlalchemy.orm import Session

from db.claims import claim_next_jobs, renew_lease, retry_job, wake_up_kinds
from db.jobs import (
    NewArtifact,
    end_canceled_job,
    fail_job,
    finish_job,
)
from db.models import Job
from db.settings import Settings
from db.storage import artifact_key
from worker.executors import EXECUTORS, ArtifactOutput, Executor, JobInput
from worker.failures import JobFailure, describe_failure, is_retryable
from worker.leases import LeaseHeartbeat, LeaseLost
from worker.pipelines import PipelineCache
from worker.job_context import RunnerJobContext
from worker.progress import JobCanceled
from worker.resources import WorkerResources
from worker.retries import retry_delay_seconds, retry_transient

log = logging.getLogger(__name__)

# "retrying": the attempt failed and the job is queued again, after a backoff.
Outcome = Literal["succeeded", "failed", "canceled", "retrying"]
T = TypeVar("T")


# Told each status change after it is committed: queues the job's webhook (tasks.py).
Announce = Callable[[Job, str], None]


class JobRunner(WorkerResources):
    def __init__(
        self,
        settings: Settings,
        executors: Mapping[str, Executor] = EXECUTORS,
        announce: Announce | None = None,
    ) -> None:
        super().__init__(settings)
        self.executors = executors
        self.announce = announce

    @cached_property
    def pipelines(self) -> PipelineCache:
        return PipelineCache(self.settings)

    @property
    def worker_id(self) -> str:
        # Read per call: the pid is the child's, not that of the parent that forked it.
        return f"{socket.gethostname()}:{os.getpid()}"

    def run(self, hint: uuid.UUID, queue: str | None = None) -> Outcome | None:
        """Claim the next job of the queue this wake-up came from (the claim policy
        is db.claims'; `hint` is the job the message named) and run it under a lease.
        Returns how this call left the job, or None when there was nothing to claim
        (a duplicate or late message) or the attempt lost the job."""
        with self.session_factory.begin() as session:
            claimed = claim_next_jobs(
                session,
                kinds=wake_up_kinds(session, queue, hint),
                worker_id=self.worker_id,
                lease_seconds=self.settings.lease_seconds,
            )
        if not claimed:
            log.info("nothing left to claim for the wake-up of job %s (duplicate or late message)", hint)
            return None
        job = claimed[0]
        self._announce(job, "running")
        with LeaseHeartbeat(lambda: self._renew_lease(job), self.settings.heartbeat_seconds, name=str(job.id)):
            outcome = self._run_claimed(job)
        if outcome in ("succeeded", "failed", "canceled"):
            self._announce(job, outcome)
        return outcome

    def _announce(self, job: Job, status: str) -> None:
        if self.announce is not None:
            self.announce(job, status)

    def _run_claimed(self, job: Job) -> Outcome | None:
        log.info(
            "running %s job %s, attempt %d of %d, model %s",
            job.kind, job.id, job.attempt, job.max_attempts, job.model,
        )
        started = time.monotonic()
        try:
            artifacts, step_seconds = self._execute(job)
        except JobCanceled as canceled:
            # Raised before anything was stored: a canceled job keeps no artifacts.
            recorded = self._write(
                lambda session: end_canceled_job(session, job.id, job.attempt, step=canceled.step),
                what=f"recording job {job.id} as canceled",
            )
            log.info("job %s attempt %d canceled at step %d", job.id, job.attempt, canceled.step)
            return "canceled" if recorded else None
        except LeaseLost:
            log.warning("job %s attempt %d lost its lease before storing; results dropped", job.id, job.attempt)
            return None
        except Exception as error:
            return self._record_failure(job, error)
        recorded = self._write(
            lambda session: finish_job(session, job.id, job.attempt, artifacts, step_seconds=step_seconds),
            what=f"recording job {job.id} as succeeded",
        )
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

    def _record_failure(self, job: Job, error: Exception) -> Outcome | None:
        """Fail the job, or put it back for another attempt after a backoff when the
        failure may pass (docs/reliability.md) and attempts are left."""
        code, message = describe_failure(error)
        retry = is_retryable(code) and job.attempt < job.max_attempts
        # A failure genq raised on purpose needs no traceback unless it wraps another error.
        expected = isinstance(error, JobFailure) and error.__cause__ is None
        log.error(
            "job %s attempt %d of %d failed: %s: %s%s", job.id, job.attempt, job.max_attempts, code, message,
            "; it will be retried" if retry else "", exc_info=not expected,
        )
        if not retry:
            recorded = self._write(
                lambda session: fail_job(session, job.id, job.attempt, code=code, message=message),
                what=f"recording job {job.id} as failed",
            )
            return "failed" if recorded else None
        delay = retry_delay_seconds(self.settings, job.attempt)
        status = self._write(
            lambda session: retry_job(
                session, job.id, job.attempt, code=code, message=message, delay_seconds=delay
            ),
            what=f"putting job {job.id} back for a retry",
        )
        return {"queued": "retrying", "canceled": "canceled"}.get(status)

    def _renew_lease(self, job: Job) -> bool:
        with self.session_factory.begin() as session:
            return renew_lease(session, job.id, job.attempt, lease_seconds=self.settings.lease_seconds)

    def _write(self, change: Callable[[Session], T], *, what: str) -> T:
        """One transaction, tried again in place while the database does not answer."""

        def transaction() -> T:
            with self.session_factory.begin() as session:
                return change(session)

        return retry_transient(transaction, what=what)

    def _execute(self, job: Job) -> tuple[list[NewArtifact], float | None]:
        """The stored artifacts and the measured seconds per step; raises JobCanceled
        from the step where the job's cancel was seen."""
        executor = self.executors.get(job.kind)
        if executor is None:
            raise JobFailure("unsupported_kind", f"this worker cannot run {job.kind!r} jobs")
        context = RunnerJobContext(self, self.pipelines, job)
        outputs = executor(JobInput(job.id, job.model, job.params), context)
        # A worker that was paused or cut off past its lease must not overwrite the
        # objects of the attempt that took over (artifact keys are per job and index).
        if not retry_transient(lambda: self._renew_lease(job), what=f"renewing the lease of job {job.id}"):
            raise LeaseLost()
        return [self._store(job.id, output) for output in outputs], context.timer.seconds_per_step

    def _store(self, job_id: uuid.UUID, output: ArtifactOutput) -> NewArtifact:
        # The key depends only on job and index, so a retry overwrites, never duplicates.
        key = artifact_key(job_id, output.index, output.extension)
        retry_transient(lambda: self.storage.put(key, output.data, output.content_type), what=f"storing {key}")
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
