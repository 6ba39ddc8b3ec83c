"""An in-process JobContext for running executors in tests without a runner:
progress goes to a callback, inputs and checkpoints live in memory."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.clip_models import ClipModelCache
from worker.executors.interface import AdapterWeights, Checkpoint, TrainingImage
from worker.pipelines import PipelineCache
from worker.speech_models import SpeechModelCache
from worker.text_models import TextModelCache
from worker.upscalers import UpscalerCache


@dataclass
class LocalJobContext:
    pipelines: PipelineCache
    on_progress: Callable[[int, int], None] = lambda step, total: None
    text_models: TextModelCache | None = None
    upscalers: UpscalerCache | None = None
    speech_models: SpeechModelCache | None = None
    clip_models: ClipModelCache | None = None
    scores_every_image: bool = False
    job_artifacts: dict[uuid.UUID, list[bytes]] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    datasets: dict[uuid.UUID, list[TrainingImage]] = field(default_factory=dict)
    adapters: dict[uuid.UUID, AdapterWeights] = field(default_factory=dict)
    uploads: dict[uuid.UUID, bytes] = field(default_factory=dict)
    losses: list[tuple[int, float]] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict)
    previews: list[tuple[int, int, int, bytes]] = field(default_factory=list)
    checkpoint: Checkpoint | None = None

    def __post_init__(self) -> None:
        # The clip models of the pipelines' settings, as a worker has both caches.
        if self.clip_models is None and self.pipelines is not None:
            self.clip_models = ClipModelCache(self.pipelines.settings)

    def report_progress(self, step: int, total: int) -> None:
        self.on_progress(step, total)

    def report_loss(self, step: int, loss: float) -> None:
        self.losses.append((step, loss))

    def report_text(self, index: int, text: str) -> None:
        self.texts[index] = text

    def report_preview(self, index: int, step: int, total: int, webp: bytes) -> None:
        self.previews.append((index, step, total, webp))

    def report_result(self, result: dict[str, Any]) -> None:
        self.result = result

    def job_images(self, job_id: uuid.UUID) -> list[bytes]:
        return self.job_artifacts[job_id]

    def dataset(self, dataset_id: uuid.UUID) -> list[TrainingImage]:
        return self.datasets[dataset_id]

    def adapter(self, adapter_id: uuid.UUID) -> AdapterWeights:
        return self.adapters[adapter_id]

    def input_image(self, upload_id: uuid.UUID) -> bytes:
        return self.uploads[upload_id]

    def load_checkpoint(self) -> Checkpoint | None:
        return self.checkpoint

    def save_checkpoint(self, step: int, data: bytes) -> None:
        self.checkpoint = Checkpoint(step, data)
