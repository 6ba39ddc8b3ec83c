"""One job's life on a worker: claim it, run its kind's executor under a lease
kept by a heartbeat, store the files, finish it (or fail it with a code and a
one-line message, or put it back for a retry).

Holds the worker process's resources (database sessions, storage, pipeline cache),
made on first use so that they are created in the worker child, never the parent.
Knows nothing of Celery messages; worker/tasks.py hands it job ids.
"""

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from functools import cached_property, partial
from typing import Literal, TypeVar

from sqlalchemy.orm import Session

from db.claims import claim_batch, claim_next_jobs, peek_batch, wake_up_kinds
from db.job_signals import publish_status
from db.jobs import (
    NewArtifact,
    end_canceled_job,
    fail_job,
    finish_job,
    get_job,
    release_job,
    renew_lease,
    retry_job,
)
from db.kinds import find_kind, job_kinds
from db.models import Job
from db.settings import Settings
from db.storage import artifact_key, attempt_prefix
from worker.clip_models import ClipModelCache
from worker.draining import Drain, WorkerDraining
from worker.executors import ArtifactOutput, BatchExecutor, Executor, JobInput, load_executors
from worker.failures import JobFailure, describe_failure, is_retryable
from worker.finisher import BackgroundFinisher
from worker.job_context import RunnerJobContext
from worker.leases import LeaseHeartbeat, LeaseLost
from worker.metrics import worker_metrics
from worker.pipelines import PipelineCache
from worker.progress import JobCanceled
from worker.resources import WorkerResources, worker_id
from worker.retries import retry_delay_seconds, retry_transient
from worker.speech_models import SpeechModelCache
from worker.text_models import TextModelCache
from worker.upscalers import UpscalerCache

log = logging.getLogger(__name__)

# "retrying": the attempt failed and the job is queued again, after a backoff.
# "released": the worker is stopping; the job is queued again at once, its attempt given back.
# "finishing": its results are being stored and recorded in the background.
Outcome = Literal["succeeded", "failed", "canceled", "retrying", "released", "finishing"]
# How an attempt ended, and its failure code ("" for none); outcome None: the attempt lost its job.
Settled = tuple[Outcome | None, str]
T = TypeVar("T")


# Told each status change after it is committed: queues the job's webhook (tasks.py).
Announce = Callable[[Job, str], None]

# How often a worker waiting for a batch's companions looks at the queue again.
BATCH_POLL_SECONDS = 0.005


class JobRunner(WorkerResources):
    def __init__(
        self,
        settings: Settings,
        executors: Mapping[str, Executor] | None = None,
        announce: Announce | None = None,
        batch_executors: Mapping[str, BatchExecutor] | None = None,
        drain: Drain | None = None,
    ) -> None:
        """executors, batch_executors: by kind name; by default each known kind's
        (worker.executors.load_executors). A kind given an executor here (tests)
        gets no stock batch executor: its jobs must all run on that one. drain:
        the worker's, which its main process sets when told to stop (worker/draining.py)."""
        super().__init__(settings)
        self.drain = drain or Drain()
        stock = load_executors(job_kinds().values())
        given = executors or {}
        self.executors = {**{name: executor.run for name, executor in stock.items()}, **given}
        self.announce = announce
        if batch_executors is None:
            batch_executors = {
                name: executor.run_batch
                for name, executor in stock.items()
                if executor.run_batch is not None and name not in given
            }
        self.batch_executors = batch_executors

    @cached_property
    def pipelines(self) -> PipelineCache:
        return PipelineCache(self.settings)

    @cached_property
    def finisher(self) -> BackgroundFinisher:
        return BackgroundFinisher()

    @cached_property
    def text_models(self) -> TextModelCache:
        return TextModelCache(self.settings)

    @cached_property
    def upscalers(self) -> UpscalerCache:
        return UpscalerCache(self.settings)

    @cached_property
    def speech_models(self) -> SpeechModelCache:
        return SpeechModelCache(self.settings)

    @cached_property
    def clip_models(self) -> ClipModelCache:
        return ClipModelCache(self.settings)

    @property
    def worker_id(self) -> str:
        return worker_id()

    def run(self, hint: uuid.UUID, queue: str | None = None) -> Outcome | None:
        """Claim the next job of the queue this wake-up came from (the claim policy
        is db.claims'; `hint` is the job the message named) and run it under a lease.
        Returns how this call left the job, or None when there was nothing to claim
        (a duplicate or late message) or the attempt lost the job. Compatible jobs
        claimed together run as one batch (docs/performance.md); the call then
        returns how it left the first. `finishing`: the results are being stored
        and recorded behind the next job (settings.finishes_in_background)."""
        if self.drain.draining:
            log.info("not claiming for the wake-up of job %s: this worker is stopping", hint)
            return None
        claimed = self._claim(hint, queue)
        if not claimed:
            log.info("nothing left to claim for the wake-up of job %s (duplicate or late message)", hint)
            return None
        started = time.monotonic()
        self._observe_claim(claimed)
        contexts = [self._context(job) for job in claimed]
        for job in claimed:
            self._announce(job, "running")
        # One heartbeat renews every lease of the batch until each job is recorded.
        beat = LeaseHeartbeat(
            lambda: self._renew_leases(claimed), self.settings.heartbeat_seconds, name=str(claimed[0].id)
        )
        beat.start()
        try:
            results = self._execute(claimed, contexts)
            finish = partial(self._finish_all, claimed, contexts, results, started, beat)
            if self.settings.finishes_in_background(self.pipelines.device.type):
                self.finisher.submit(finish)
                return "finishing"
        except BaseException:
            # Nothing will record these jobs: let their leases run out for the reaper.
            beat.stop()
            raise
        return finish()

    def wait_for_finishes(self, timeout: float | None = None) -> bool:
        """Until the results handed to the background finisher are recorded, or
        `timeout` seconds; whether they all were."""
        return "finisher" not in self.__dict__ or self.finisher.wait(timeout)

    @staticmethod
    def _observe_claim(jobs: list[Job]) -> None:
        metrics = worker_metrics()
        metrics.batch_size.labels(jobs[0].kind).observe(len(jobs))
        for job in jobs:
            if job.started_at is not None:
                waited = (job.started_at - job.created_at).total_seconds()
                metrics.queue_wait_seconds.labels(job.kind, job.model).observe(waited)

    def _claim(self, hint: uuid.UUID, queue: str | None) -> list[Job]:
        """The next job; with it, when this worker batches its kind (max_batch > 1
        on this device), the queued jobs that can share its pipeline call. While
        the queue already holds such companions and the batch has room, first
        waits up to batch_window_ms for more to arrive; a lone job never waits."""
        with self.session_factory.begin() as session:
            kinds = wake_up_kinds(session, queue, hint)
            batched = any(kind in self.batch_executors for kind in kinds)
            max_images = self.settings.max_batch_images(self.pipelines.device.type) if batched else 1
            if max_images == 1:
                return claim_next_jobs(
                    session, kinds=kinds, worker_id=self.worker_id, lease_seconds=self.settings.lease_seconds
                )
        self._wait_for_companions(kinds, max_images)
        with self.session_factory.begin() as session:
            return claim_batch(
                session,
                kinds=kinds,
                worker_id=self.worker_id,
                lease_seconds=self.settings.lease_seconds,
                max_images=max_images,
            )

    def _wait_for_companions(self, kinds: list[str], max_images: int) -> None:
        deadline = time.monotonic() + self.settings.batch_window_ms / 1000
        while True:
            with self.session_factory() as session:
                queued = peek_batch(session, kinds=kinds, max_images=max_images)
            left = deadline - time.monotonic()
            if queued.jobs <= 1 or queued.images >= max_images or left <= 0 or self.drain.draining:
                return
            time.sleep(min(BATCH_POLL_SECONDS, left))

    def _execute(self, jobs: list[Job], contexts: list[RunnerJobContext]) -> list[list[ArtifactOutput] | BaseException]:
        """Each job's outputs, or the exception that ended it: one call of its kind's
        executor, or for jobs claimed together (one batch key) one call of its batch
        executor, each job with its own context (progress, cancel). A failure of the
        whole call is every job's, each then retried or failed as if alone."""
        job = jobs[0]
        if len(jobs) > 1:
            log.info("running a batch of %d %s jobs: %s", len(jobs), job.kind, ", ".join(str(j.id) for j in jobs))
            try:
                return self.batch_executors[job.kind]([JobInput(j.id, j.model, j.params) for j in jobs], contexts)
            except Exception as error:
                return [error] * len(jobs)
        log.info(
            "running %s job %s, attempt %d of %d, model %s",
            job.kind,
            job.id,
            job.attempt,
            job.max_attempts,
            job.model,
        )
        executor = self.executors.get(job.kind)
        try:
            if executor is None:
                raise JobFailure("unsupported_kind", f"this worker cannot run {job.kind!r} jobs")
            return [executor(JobInput(job.id, job.model, job.params), contexts[0])]
        except Exception as error:
            return [error]

    def _finish_all(
        self,
        jobs: list[Job],
        contexts: list[RunnerJobContext],
        results: list[list[ArtifactOutput] | BaseException],
        started: float,
        beat: LeaseHeartbeat,
    ) -> Outcome | None:
        """Store each job's outputs, record how it ended and announce it, while the
        heartbeat still renews the leases; how the first job was left. A job whose
        record could not be written (the database gone past the retries) is left
        to its lease, the others of the batch are recorded, then the error raised."""
        outcomes: list[Outcome | None] = []
        errors: list[Exception] = []
        try:
            for job, outputs, context in zip(jobs, results, contexts, strict=True):
                try:
                    outcome, code = self._settle(job, context, started, outputs)
                except Exception as error:
                    log.exception(
                        "job %s attempt %d could not be recorded; its lease will run out", job.id, job.attempt
                    )
                    outcome, code = None, ""
                    errors.append(error)
                outcomes.append(outcome)
                self._observe_end(job, outcome, code, started)
        finally:
            beat.stop()
        worker_metrics().observe_gpu_memory(self.pipelines.device)
        for job, outcome in zip(jobs, outcomes, strict=True):
            if outcome in ("succeeded", "failed", "canceled"):
                self._announce(job, outcome)
                self._delete_unreferenced_objects(job, outcome)
        if errors:
            raise errors[0]
        return outcomes[0]

    @staticmethod
    def _observe_end(job: Job, outcome: Outcome | None, code: str, started: float) -> None:
        metrics = worker_metrics()
        metrics.jobs.labels(job.kind, outcome or "lost", code).inc()
        metrics.job_seconds.labels(job.kind, job.model).observe(time.monotonic() - started)

    def _delete_unreferenced_objects(self, job: Job, outcome: Outcome) -> None:
        """Once a job has ended, the objects no artifact row references: those of its
        earlier attempts (a retry after a part-stored failure, an attempt that lost
        the job), and this attempt's own unless it succeeded. Best effort: the job
        has ended whatever the storage says; a first attempt that succeeded costs
        nothing here."""
        last = job.attempt - 1 if outcome == "succeeded" else job.attempt
        for attempt in range(1, last + 1):
            prefix = attempt_prefix(job.id, attempt)
            try:
                deleted = self.storage.delete_prefix(prefix)
            except Exception as error:
                log.warning("could not delete the unreferenced objects under %s: %s", prefix, error)
                continue
            if deleted:
                log.info("deleted %d unreferenced object(s) under %s", deleted, prefix)

    def _announce(self, job: Job, status: str) -> None:
        publish_status(self.settings, job.id, status)
        if self.announce is not None:
            self.announce(job, status)

    def _settle(
        self,
        job: Job,
        context: RunnerJobContext,
        started: float,
        outputs: list[ArtifactOutput] | BaseException,
    ) -> Settled:
        """Store what the attempt made and record how it ended; the record carries
        the attempt's `running` event if it wrote none yet (context.opening)."""
        try:
            artifacts = self._keep(job, outputs, context)
        except JobCanceled as canceled:
            # Raised before anything was stored: a canceled job keeps no artifacts.
            step = canceled.step
            recorded = self._write(
                lambda session: end_canceled_job(
                    session, job.id, job.attempt, step=step, total=context.total_steps, opening=context.opening
                ),
                what=f"recording job {job.id} as canceled",
            )
            log.info("job %s attempt %d canceled at step %d", job.id, job.attempt, step)
            return ("canceled" if recorded else None), ""
        except WorkerDraining as draining:
            status = self._write(
                lambda session: release_job(session, job.id, job.attempt, opening=context.opening),
                what=f"putting job {job.id} back as its worker stops",
            )
            log.info(
                "job %s attempt %d put back at step %d: this worker is stopping", job.id, job.attempt, draining.step
            )
            if status == "queued":
                return "released", ""
            return ("canceled" if status == "canceled" else None), ""
        except LeaseLost:
            log.warning("job %s attempt %d lost its lease before storing; results dropped", job.id, job.attempt)
            return None, ""
        except Exception as error:
            return self._record_failure(job, error, opening=context.opening)
        recorded = self._write(
            lambda session: self._finish(session, job, artifacts, context),
            what=f"recording job {job.id} as succeeded",
        )
        if not recorded:
            log.warning(
                "job %s attempt %d lost its claim (canceled or taken over); results dropped",
                job.id,
                job.attempt,
            )
            return None, ""
        log.info(
            "job %s succeeded in %.1f s with %d artifacts",
            job.id,
            time.monotonic() - started,
            len(artifacts),
        )
        made = worker_metrics().artifacts
        for artifact in artifacts:
            made.labels(job.kind, job.model, artifact.kind).inc()
        return "succeeded", ""

    @staticmethod
    def _finish(session: Session, job: Job, artifacts: list[NewArtifact], context: RunnerJobContext) -> bool:
        finished = finish_job(
            session,
            job.id,
            job.attempt,
            artifacts,
            result=context.result,
            step_seconds=context.timer.seconds_per_step,
            total_steps=context.total_steps,
            opening=context.opening,
        )
        if not finished:
            return False
        kind = find_kind(job.kind)
        if kind is not None and kind.on_success is not None:
            # In the finish's transaction, with the artifacts it recorded.
            finished_job = get_job(session, job.id, owner=None)
            assert finished_job is not None  # this transaction's own finish
            kind.on_success(session, finished_job)
        return True

    def _record_failure(self, job: Job, error: Exception, *, opening: bool) -> Settled:
        """Fail the job, or put it back for another attempt after a backoff when the
        failure may pass (docs/reliability.md) and attempts are left."""
        code, message = describe_failure(error)
        retry = is_retryable(code) and job.attempt < job.max_attempts
        # A failure genq raised on purpose needs no traceback unless it wraps another error.
        expected = isinstance(error, JobFailure) and error.__cause__ is None
        log.error(
            "job %s attempt %d of %d failed: %s: %s%s",
            job.id,
            job.attempt,
            job.max_attempts,
            code,
            message,
            "; it will be retried" if retry else "",
            exc_info=not expected,
        )
        if not retry:
            recorded = self._write(
                lambda session: fail_job(session, job.id, job.attempt, code=code, message=message, opening=opening),
                what=f"recording job {job.id} as failed",
            )
            return ("failed" if recorded else None), code
        delay = retry_delay_seconds(self.settings, job.attempt)
        status = self._write(
            lambda session: retry_job(
                session, job.id, job.attempt, code=code, message=message, delay_seconds=delay, opening=opening
            ),
            what=f"putting job {job.id} back for a retry",
        )
        if status == "queued":
            return "retrying", code
        return ("canceled" if status == "canceled" else None), code

    def _renew_leases(self, jobs: list[Job]) -> bool:
        """The heartbeat of a job or a batch: True while it holds any of its jobs."""
        with self.session_factory.begin() as session:
            lease_seconds = self.settings.lease_seconds
            held = [renew_lease(session, job.id, job.attempt, lease_seconds=lease_seconds) for job in jobs]
        for job, kept in zip(jobs, held, strict=True):
            if not kept:
                worker_metrics().lease_renewals_lost.labels(job.kind).inc()
        return any(held)

    def _write(self, change: Callable[[Session], T], *, what: str) -> T:
        """One transaction, tried again in place while the database does not answer."""

        def transaction() -> T:
            with self.session_factory.begin() as session:
                return change(session)

        return retry_transient(transaction, what=what)

    def _context(self, job: Job) -> RunnerJobContext:
        return RunnerJobContext(
            self,
            self.pipelines,
            job,
            text_models=self.text_models,
            upscalers=self.upscalers,
            speech_models=self.speech_models,
            clip_models=self.clip_models,
            drain=self.drain,
        )

    def _keep(
        self, job: Job, outputs: list[ArtifactOutput] | BaseException, context: RunnerJobContext
    ) -> list[NewArtifact]:
        """An executor's outputs stored, or the exception that ended the job raised."""
        if isinstance(outputs, BaseException):
            raise outputs
        if not context.keep_reports():
            raise LeaseLost()
        return [self._store(job, output) for output in outputs]

    def _store(self, job: Job, output: ArtifactOutput) -> NewArtifact:
        # Under the attempt's own key: a store tried again overwrites, and an attempt
        # that lost its job (paused past its lease) cannot touch the next one's objects.
        key = artifact_key(job.id, job.attempt, output.index, output.extension)
        data = output.encoded()
        retry_transient(lambda: self.storage.put(key, data, output.content_type), what=f"storing {key}")
        return NewArtifact(
            index=output.index,
            kind=output.kind,
            storage_key=key,
            content_type=output.content_type,
            bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            width=output.width,
            height=output.height,
            seed=output.seed,
            finish_reason=output.usage.finish_reason if output.usage else None,
            prompt_tokens=output.usage.prompt_tokens if output.usage else None,
            completion_tokens=output.usage.completion_tokens if output.usage else None,
            sample_rate=output.audio.sample_rate if output.audio else None,
            duration_seconds=output.audio.duration_seconds if output.audio else None,
            clip_score=output.clip_score,
            # Text is small enough to ride in the job's JSON as well.
            text=data.decode("utf-8") if output.kind == "text" else None,
        )
