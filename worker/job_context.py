"""The runner's JobContext (worker/executors/interface.py): what one job's executor
may use of the worker process's database, storage and pipeline cache.

Progress is throttled to about one database write per interval; each write also
reads the job's cancel flag (the truth), while Redis is checked every step (the
fast path). Loss values and generated text are buffered in between and go out
with the next write, so a fast step loop never waits for the database.
"""

import logging
import uuid

from db.cancellation import CancelWatch
from db.jobs import is_cancel_requested, record_progress
from db.models import Job
from worker.executors.interface import AdapterWeights, Checkpoint, TrainingImage
from worker.failures import is_transient
from worker.pipelines import PipelineCache
from worker.progress import JobCanceled, StepTimer, ThrottledProgress
from worker.resources import WorkerResources

log = logging.getLogger(__name__)


class RunnerJobContext:
    def __init__(self, resources: WorkerResources, pipelines: PipelineCache, job: Job) -> None:
        self._resources = resources
        self._pipelines = pipelines
        self._job = job
        self._throttled = ThrottledProgress(self._write_progress, resources.settings.progress_interval_seconds)
        self._cancel_watch = CancelWatch(resources.settings, job.id)
        self.timer = StepTimer()

    @property
    def pipelines(self) -> PipelineCache:
        return self._pipelines

    def report_progress(self, step: int, total: int) -> None:
        self.timer(step)
        if self._cancel_watch.requested():
            raise JobCanceled(step)
        self._throttled(step, total)

    def _write_progress(self, step: int, total: int) -> None:
        job = self._job
        try:
            with self._resources.session_factory.begin() as session:
                record_progress(session, job.id, job.attempt, step=step, total=total)
                # The row's flag is the truth; Redis (above) is only the fast path.
                canceled = is_cancel_requested(session, job.id)
        except Exception as error:
            if not is_transient(error):
                raise
            # Progress is advice: a database blip must not cost the job.
            log.warning("progress of job %s not recorded: %s", job.id, error)
            return
        if canceled:
            raise JobCanceled(step)

    def report_loss(self, step: int, loss: float) -> None:
        raise NotImplementedError

    def report_text(self, index: int, text: str) -> None:
        raise NotImplementedError

    def dataset(self, dataset_id: uuid.UUID) -> list[TrainingImage]:
        raise NotImplementedError

    def adapter(self, adapter_id: uuid.UUID) -> AdapterWeights:
        raise NotImplementedError

    def load_checkpoint(self) -> Checkpoint | None:
        raise NotImplementedError

    def save_checkpoint(self, step: int, data: bytes) -> None:
        raise NotImplementedError
