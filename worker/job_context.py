"""The runner's JobContext (worker/executors/interface.py): what one job's executor
may use of the worker process's database, storage and pipeline cache.

Progress is throttled to about one database write per interval; each write also
reads the job's cancel flag (the truth), while Redis is checked every step (the
fast path). Loss values and generated text are buffered in between and go out
with the next write, so a fast step loop never waits for the database. The
attempt's first write of events carries its `running` event (`opening`,
db/events.py).
"""

import logging
import time
import uuid
from typing import Any

from db.adapters import get_adapter
from db.cancellation import CancelWatch
from db.datasets import get_dataset
from db.input_images import get_upload
from db.job_signals import JobSignals
from db.jobs import AttemptState, get_job, record_reports
from db.models import Job
from db.storage import ObjectNotFound, checkpoint_key
from worker.adapters import process_adapter_files
from worker.clip_models import ClipModelCache
from worker.draining import Drain, WorkerDraining
from worker.executors.interface import AdapterWeights, Checkpoint, TrainingImage
from worker.failures import JobFailure, is_transient
from worker.leases import LeaseLost
from worker.metrics import worker_metrics
from worker.pipelines import PipelineCache
from worker.progress import JobCanceled, StepTimer, ThrottledProgress
from worker.resources import WorkerResources
from worker.retries import retry_transient
from worker.speech_models import SpeechModelCache
from worker.text_models import TextModelCache
from worker.upscalers import UpscalerCache

log = logging.getLogger(__name__)


class RunnerJobContext:
    def __init__(
        self,
        resources: WorkerResources,
        pipelines: PipelineCache,
        job: Job,
        *,
        text_models: TextModelCache,
        upscalers: UpscalerCache,
        speech_models: SpeechModelCache,
        clip_models: ClipModelCache,
        drain: Drain,
    ) -> None:
        self._resources = resources
        self._pipelines = pipelines
        self._text_models = text_models
        self._upscalers = upscalers
        self._speech_models = speech_models
        self._clip_models = clip_models
        self._drain = drain
        # What report_result was given: recorded as the job's `result` at its success.
        self.result: dict[str, Any] | None = None
        self._job = job
        # Each output's latest text, until the next progress write; Redis gets every one at once.
        self._unwritten_texts: dict[int, str] = {}
        self._unwritten_losses: list[tuple[int, float]] = []
        # Until the attempt's first write of events: that write carries its `running` event.
        self.opening = True
        # The total of the last progress report: a job's finish records its progress
        # as complete, and a short job may never have written one.
        self.total_steps: int | None = None
        self._signals = JobSignals(resources.settings, job.id)
        self._throttled = ThrottledProgress(self._write_progress, resources.settings.progress_interval_seconds)
        self._cancel_watch = CancelWatch(resources.settings, job.id)
        self.timer = StepTimer()
        metrics = worker_metrics()
        self._step_seconds = metrics.step_seconds.labels(job.kind, job.model)
        self._steps = metrics.steps.labels(job.kind, job.model)
        self._last_step: tuple[int, float] | None = None

    @property
    def pipelines(self) -> PipelineCache:
        return self._pipelines

    @property
    def text_models(self) -> TextModelCache:
        return self._text_models

    @property
    def upscalers(self) -> UpscalerCache:
        return self._upscalers

    @property
    def speech_models(self) -> SpeechModelCache:
        return self._speech_models

    @property
    def clip_models(self) -> ClipModelCache:
        return self._clip_models

    @property
    def scores_every_image(self) -> bool:
        return self._resources.settings.score_images

    def report_result(self, result: dict[str, Any]) -> None:
        self.result = result

    def report_progress(self, step: int, total: int) -> None:
        self.timer(step)
        self._count_steps(step)
        self.total_steps = total
        if self._cancel_watch.requested():
            raise JobCanceled(step)
        if self._drain.overdue:
            raise WorkerDraining(step)
        self._throttled(step, total)

    def _count_steps(self, step: int) -> None:
        """The steps since the previous report, and their mean duration (from the
        attempt's first report on: what came before it was loading and encoding)."""
        now = time.monotonic()
        if self._last_step is not None and step > self._last_step[0]:
            done = step - self._last_step[0]
            self._steps.inc(done)
            self._step_seconds.observe((now - self._last_step[1]) / done)
        self._last_step = (step, now)

    def _write_progress(self, step: int, total: int) -> None:
        try:
            state = self._write_reports(progress=(step, total))
        except Exception as error:
            if not is_transient(error):
                raise
            # Progress is advice: a database blip must not cost the job.
            log.warning("progress of job %s not recorded: %s", self._job.id, error)
            return
        if state == "cancel_requested":
            raise JobCanceled(step)

    def _write_reports(self, progress: tuple[int, int] | None = None) -> AttemptState | None:
        """One transaction: the progress and what was reported since the last write;
        renews the lease. None when this attempt no longer holds the job."""
        job = self._job
        with self._resources.session_factory.begin() as session:
            state = record_reports(
                session,
                job.id,
                job.attempt,
                lease_seconds=self._resources.settings.lease_seconds,
                progress=progress,
                texts=self._unwritten_texts,
                losses=self._unwritten_losses,
                opening=self.opening,
            )
        if state is None:
            worker_metrics().lease_renewals_lost.labels(job.kind).inc()
        else:
            self._unwritten_texts, self._unwritten_losses = {}, []
            self.opening = False
        return state

    def report_loss(self, step: int, loss: float) -> None:
        self._unwritten_losses.append((step, loss))

    def report_preview(self, index: int, step: int, total: int, webp: bytes) -> None:
        self._signals.publish_preview(index, step, total, webp)

    def report_text(self, index: int, text: str) -> None:
        self._unwritten_texts[index] = text
        self._signals.publish_text(index, text)

    def dataset(self, dataset_id: uuid.UUID) -> list[TrainingImage]:
        """The dataset's images in upload order; it must be the job's owner's (checked
        at submit too, but it may have been deleted since)."""
        with self._resources.session_factory() as session:
            dataset = get_dataset(session, dataset_id, owner=self._job.owner)
            if dataset is None:
                raise JobFailure("invalid_params", f"dataset {dataset_id} does not exist (any more)")
            files = [(file.filename, file.storage_key, file.caption) for file in dataset.files]
        images = []
        for filename, storage_key, caption in files:
            try:
                data = self._resources.storage.get(storage_key)
            except ObjectNotFound:
                raise JobFailure("invalid_params", f"image {filename} of dataset {dataset_id} is gone") from None
            images.append(TrainingImage(filename, data, caption))
        return images

    def job_images(self, job_id: uuid.UUID) -> list[bytes]:
        """A job's image artifacts; the job must be the owner's and have succeeded
        (checked at submit too)."""
        with self._resources.session_factory() as session:
            job = get_job(session, job_id, owner=self._job.owner)
            if job is None or job.status != "succeeded":
                raise JobFailure("invalid_params", f"job {job_id} does not exist (any more) or has not succeeded")
            keys = [artifact.storage_key for artifact in job.artifacts if artifact.kind == "image"]
        try:
            return [self._resources.storage.get(key) for key in keys]
        except ObjectNotFound:
            raise JobFailure("invalid_params", f"an image of job {job_id} is gone") from None

    def input_image(self, upload_id: uuid.UUID) -> bytes:
        """An upload's PNG; it must be the job's owner's (checked at submit too)."""
        with self._resources.session_factory() as session:
            upload = get_upload(session, upload_id, owner=self._job.owner)
            if upload is None:
                raise JobFailure("invalid_params", f"upload {upload_id} does not exist (any more)")
            storage_key = upload.storage_key
        try:
            return self._resources.storage.get(storage_key)
        except ObjectNotFound:
            raise JobFailure("invalid_params", f"the image of upload {upload_id} is gone") from None

    def adapter(self, adapter_id: uuid.UUID) -> AdapterWeights:
        """The adapter's weights on local disk; it must be the job's owner's (checked
        at submit too, but it may have been deleted since)."""
        with self._resources.session_factory() as session:
            adapter = get_adapter(session, adapter_id, owner=self._job.owner)
            if adapter is None:
                raise JobFailure("invalid_params", f"adapter {adapter_id} does not exist (any more)")
            base_model, storage_key = adapter.base_model, adapter.artifact.storage_key

        def download() -> bytes:
            try:
                return self._resources.storage.get(storage_key)
            except ObjectNotFound:
                raise JobFailure("invalid_params", f"the weights of adapter {adapter_id} are gone") from None

        path = process_adapter_files().path_for(adapter_id, download)
        return AdapterWeights(adapter_id, base_model, path)

    def load_checkpoint(self) -> Checkpoint | None:
        key = checkpoint_key(self._job.id)
        try:
            stored = retry_transient(lambda: self._resources.storage.get(key), what=f"reading {key}")
        except ObjectNotFound:
            return None
        return Checkpoint(int.from_bytes(stored[:8], "big"), stored[8:])

    def keep_lease_and_reports(self) -> bool:
        """Renew the lease and write the losses and texts reported since the last
        progress write, in one transaction, tried again while the database does not
        answer; False when this attempt no longer holds the job. Called before a
        checkpoint (one object per job, which an attempt that lost its job must not
        overwrite), so that it cannot be ahead of the reports."""
        state = retry_transient(self._write_reports, what=f"renewing the lease of job {self._job.id}")
        return state is not None

    def keep_reports(self) -> bool:
        """Write the losses and texts reported since the last progress write, if
        any (as keep_lease_and_reports); called before the results are stored, so
        that a loss series has no gap however the job ends. With nothing to write
        it writes nothing: results go under the attempt's own keys
        (db.storage.artifact_key), so an attempt that lost its job cannot overwrite
        those of the attempt that took over, and its finish finds the job gone."""
        if not (self._unwritten_texts or self._unwritten_losses):
            return True
        return self.keep_lease_and_reports()

    def save_checkpoint(self, step: int, data: bytes) -> None:
        """An attempt that resumes from this checkpoint repeats only the steps after
        it, so the losses before it are written first; an attempt that lost its job
        (LeaseLost) must not overwrite the checkpoint."""
        if not self.keep_lease_and_reports():
            raise LeaseLost()
        job = self._job
        key = checkpoint_key(job.id)
        stored = step.to_bytes(8, "big") + data
        retry_transient(
            lambda: self._resources.storage.put(key, stored, "application/octet-stream"), what=f"storing {key}"
        )
        log.info("job %s saved its checkpoint at step %d", job.id, step)
        if self._drain.draining:
            # Nothing after the checkpoint is lost: the next attempt resumes from it.
            raise WorkerDraining(step)
