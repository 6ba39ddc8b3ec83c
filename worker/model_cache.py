"""A worker process's least-recently-used cache of loaded models, shared by the
diffusers pipelines (worker/pipelines.py) and the text models
(worker/text_models.py): keyed by (model source, dtype, device), at most
`settings.pipeline_cache_size` of each, with the device and dtype chosen once.

Loading refuses pickle-format weights and turns a model that cannot be loaded
into a job failure whose message names the model but no path on this machine.
"""

import gc
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch

from db.registry import ModelKind, find_model
from db.settings import Settings
from worker.failures import JobFailure
from worker.metrics import worker_metrics
from worker.weights import refuse_pickle_weights

log = logging.getLogger(__name__)

Loaded = TypeVar("Loaded")

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(name: str) -> torch.device:
    """`auto`: the first of CUDA, Apple MPS, CPU that this machine has."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto`: bfloat16 on CUDA where supported (float16 overflows in some VAEs),
    else float16 on accelerators, float32 on CPU (half precision is slow there)."""
    if name != "auto":
        if name not in DTYPES:
            raise ValueError(f"GENQ_DTYPE must be auto or one of {', '.join(DTYPES)}, not {name!r}")
        return DTYPES[name]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


@dataclass
class CacheStats:
    loads: int = 0
    hits: int = 0
    evictions: int = 0


class ModelCache(Generic[Loaded]):
    """Subclasses say which registry kind they hold and how one is loaded (`_load`)."""

    kind: ModelKind
    noun: str  # in log lines: "pipeline", "text model"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.capacity = settings.pipeline_cache_size
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        self.stats = CacheStats()
        self._loaded: OrderedDict[tuple[str, str, str], Loaded] = OrderedDict()

    def __len__(self) -> int:
        return len(self._loaded)

    def get(self, model_name: str) -> Loaded:
        """The loaded model, loading it (and evicting the oldest) on a miss."""
        entry = find_model(self.settings, model_name)
        if entry is None:
            raise JobFailure("model_not_found", f"model {model_name!r} is not installed on this worker")
        if entry.kind != self.kind:
            raise JobFailure("model_kind_mismatch", f"model {model_name!r} is not a {self.kind} model")
        key = (entry.source, str(self.dtype), str(self.device))
        if key in self._loaded:
            self._loaded.move_to_end(key)
            self.stats.hits += 1
            return self._loaded[key]
        while len(self._loaded) >= self.capacity:
            self._evict_oldest()
        started = time.monotonic()
        refuse_pickle_weights(model_name, entry.source)
        try:
            loaded = self._load(entry.source)
        except (OSError, ValueError) as error:
            # Missing files, no safetensors weights, an unknown class. The details
            # (paths on this machine) go to the worker log, not to the job's owner.
            raise JobFailure(
                "model_load_failed",
                f"model {model_name!r} could not be loaded ({type(error).__name__}); see the worker log",
            ) from error
        self._loaded[key] = loaded
        self.stats.loads += 1
        seconds = time.monotonic() - started
        metrics = worker_metrics()
        metrics.model_loads.labels(self.kind, model_name).inc()
        metrics.model_load_seconds.labels(self.kind, model_name).observe(seconds)
        metrics.observe_gpu_memory(self.device)
        log.info(
            "loaded %s %s (%s, %s, %s) in %.1f s",
            self.noun,
            model_name,
            type(loaded).__name__,
            self.dtype,
            self.device,
            seconds,
        )
        return loaded

    def _load(self, source: str) -> Loaded:
        raise NotImplementedError

    def _evict_oldest(self) -> None:
        (source, _, _), evicted = self._loaded.popitem(last=False)
        self.stats.evictions += 1
        log.info("evicted %s %s from the cache", self.noun, source)
        del evicted
        # Give the accelerator memory back before the next model loads into it.
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        metrics = worker_metrics()
        metrics.model_evictions.labels(self.kind).inc()
        metrics.observe_gpu_memory(self.device)
