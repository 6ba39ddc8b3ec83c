"""What every executor is given and gives back.

An executor turns a job's model and params into files. It never sees Celery, a
database session or storage; it reports progress through the callback it gets.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from worker.pipelines import PipelineCache
from worker.progress import ProgressCallback


@dataclass(frozen=True)
class JobInput:
    id: uuid.UUID
    model: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ArtifactOutput:
    """One file an executor made; the task stores it and records it as an artifact."""

    index: int
    kind: str
    content_type: str
    extension: str
    data: bytes
    width: int | None = None
    height: int | None = None
    seed: int | None = None


Executor = Callable[[JobInput, PipelineCache, ProgressCallback], list[ArtifactOutput]]
