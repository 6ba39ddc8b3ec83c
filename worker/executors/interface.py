"""What every executor is given and gives back.

An executor turns a job's model and params into files. It never sees Celery, a
database session or storage: the runner lends it a JobContext for the job, through
which it reports progress (and loss, and text as it is generated), reads the job's
inputs (a dataset, an adapter's weights) and keeps checkpoints.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from worker.clip_models import ClipModelCache
from worker.pipelines import PipelineCache
from worker.speech_models import SpeechModelCache
from worker.text_models import TextModelCache
from worker.upscalers import UpscalerCache


@dataclass(frozen=True)
class JobInput:
    id: uuid.UUID
    model: str
    params: dict[str, Any]


@dataclass(frozen=True)
class TextUsage:
    """How a text output's generation ended and what it cost, counted by the model's tokenizer."""

    finish_reason: str  # "stop": a stop string or the end-of-text token; "length": max_new_tokens
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class AudioInfo:
    """What an audio output holds: samples per second and its length."""

    sample_rate: int
    duration_seconds: float


@dataclass(frozen=True)
class ArtifactOutput:
    """One file an executor made; the runner stores it and records it as an artifact."""

    index: int
    kind: str
    content_type: str
    extension: str
    # The file's bytes, or a function that makes them (an image's PNG encoding):
    # the runner calls it where it stores the file, which is off the GPU thread
    # when it finishes jobs in the background (worker/finisher.py).
    data: bytes | Callable[[], bytes]
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    # Text: why its generation ended and its token counts.
    usage: TextUsage | None = None
    audio: AudioInfo | None = None
    # An image's CLIP score against its prompt, when it was scored (worker/clip_models.py).
    clip_score: float | None = None

    def encoded(self) -> bytes:
        return self.data() if callable(self.data) else self.data


@dataclass(frozen=True)
class TrainingImage:
    """One image of a dataset, as uploaded (re-encoded) with its caption file's text."""

    filename: str
    data: bytes
    caption: str | None


@dataclass(frozen=True)
class AdapterWeights:
    """A trained adapter's weights on this worker's disk, ready for load_lora_weights."""

    id: uuid.UUID
    base_model: str
    path: Path


@dataclass(frozen=True)
class Checkpoint:
    """Training state saved by an earlier attempt of the same job."""

    step: int
    data: bytes


class JobContext(Protocol):
    """What the runner lends an executor for one job."""

    @property
    def pipelines(self) -> PipelineCache: ...

    @property
    def text_models(self) -> TextModelCache: ...

    @property
    def upscalers(self) -> UpscalerCache: ...
    @property
    def speech_models(self) -> SpeechModelCache: ...
    @property
    def clip_models(self) -> ClipModelCache: ...

    @property
    def scores_every_image(self) -> bool:
        """Whether every generated image is to be scored (GENQ_SCORE_IMAGES)."""

    def report_progress(self, step: int, total: int) -> None:
        """Call after every step; cheap (throttled writes). Raises JobCanceled when
        the job was canceled: let it propagate."""

    def report_loss(self, step: int, loss: float) -> None:
        """The training loss of one optimisation step; written with the next progress write."""

    def report_text(self, index: int, text: str) -> None:
        """The text of output `index` generated so far, for the job's event stream."""

    def report_preview(self, index: int, step: int, total: int, webp: bytes) -> None:
        """A preview (WebP) of image `index` at denoising step `step` of `total`, for
        the job's event stream (cheap: published, not stored with the job)."""

    def report_result(self, result: dict[str, Any]) -> None:
        """The figures the job measured (the job's `result`), recorded with its success."""

    def job_images(self, job_id: uuid.UUID) -> list[bytes]:
        """The image artifacts (PNGs) of one of the job's owner's succeeded jobs, in order."""

    def dataset(self, dataset_id: uuid.UUID) -> list[TrainingImage]: ...

    def adapter(self, adapter_id: uuid.UUID) -> AdapterWeights: ...

    def input_image(self, upload_id: uuid.UUID) -> bytes:
        """The bytes (a PNG) of one of the job's owner's uploads."""

    def load_checkpoint(self) -> Checkpoint | None:
        """The latest checkpoint an earlier attempt of this job saved, if any."""

    def save_checkpoint(self, step: int, data: bytes) -> None: ...


Executor = Callable[[JobInput, JobContext], list[ArtifactOutput]]
# Jobs with one batch key (db/batches.py) run together, one context each: every
# job's outputs, or the exception that ended it (JobCanceled for a canceled one).
BatchExecutor = Callable[[Sequence[JobInput], Sequence[JobContext]], list[list[ArtifactOutput] | BaseException]]


@dataclass(frozen=True)
class KindExecutor:
    """What a kind's executor module exports as EXECUTOR: how to run one job and,
    for a kind with Batching, how to run jobs that share one batch key together."""

    run: Executor
    run_batch: BatchExecutor | None = None
