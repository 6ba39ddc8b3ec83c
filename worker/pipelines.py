"""The worker process's cache of loaded diffusers pipelines, and per-job schedulers
and LoRA adapters.

Pipelines are keyed by (model source, dtype, device) and evicted least recently
used first. A job never runs on the cached pipeline object itself: it gets a
shallow copy (same weights) with a fresh scheduler, because schedulers keep
per-run state that must not leak from one job into the next; for the same reason
a job's adapter is unloaded from the shared weights when the job ends.
"""

import copy
import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from diffusers import (
    AutoPipelineForText2Image,
    DDIMScheduler,
    DiffusionPipeline,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from diffusers.utils import logging as diffusers_logging

from db.registry import find_model
from db.settings import Settings
from worker.failures import JobFailure
from worker.weights import refuse_pickle_weights

log = logging.getLogger(__name__)

# One class for each name in db.specs.SCHEDULERS (tests/worker check they agree).
SCHEDULER_CLASSES = {
    "ddim": DDIMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler_a": EulerAncestralDiscreteScheduler,
    "dpmpp_2m": DPMSolverMultistepScheduler,
    "heun": HeunDiscreteScheduler,
    "pndm": PNDMScheduler,
    "unipc": UniPCMultistepScheduler,
}

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


def with_fresh_scheduler(pipeline: DiffusionPipeline, scheduler_name: str | None) -> DiffusionPipeline:
    """A copy of `pipeline` sharing its weights, with a new scheduler for one job.

    The scheduler is built from the model's own scheduler config, so the betas and
    timestep settings the model was trained with carry over; None means a new
    instance of the model's own scheduler class."""
    original = pipeline.scheduler
    scheduler_class = type(original) if scheduler_name is None else SCHEDULER_CLASSES[scheduler_name]
    job_pipeline = copy.copy(pipeline)
    # DiffusionPipeline.__setattr__ re-registers the component in a new config dict
    # of the copy's own, so the cached pipeline keeps its scheduler and config.
    job_pipeline.scheduler = scheduler_class.from_config(original.config)
    return job_pipeline


@contextmanager
def lora_applied(pipeline: DiffusionPipeline, path: Path, adapter_name: str, scale: float) -> Iterator[None]:
    """`pipeline` with the LoRA at `path` loaded at `scale`, for one job.

    The LoRA goes into the UNet (and text encoder) that a job's pipeline shares with
    the cached one, so it is always unloaded afterwards, also when loading failed
    halfway (that can leave LoRA layers injected). unload_lora_weights puts the
    original layers back, so a later job without the adapter gets exactly the pixels
    it got before. A worker child runs one job at a time, so no other job sees the
    shared modules meanwhile; running jobs concurrently on one cache would need a lock here."""
    try:
        _load_lora(pipeline, path, adapter_name)
        pipeline.set_adapters([adapter_name], adapter_weights=[scale])
        yield
    finally:
        pipeline.unload_lora_weights()


def _load_lora(pipeline: DiffusionPipeline, path: Path, adapter_name: str) -> None:
    try:
        pipeline.load_lora_weights(path, adapter_name=adapter_name)
    except (OSError, ValueError, RuntimeError) as error:
        if isinstance(error, torch.OutOfMemoryError):
            raise
        # Not a LoRA file, or one whose shapes do not fit this model: no retry will help.
        # The details (paths, layer names) go to the worker log.
        raise JobFailure(
            "adapter_load_failed",
            f"the adapter could not be loaded into this model ({type(error).__name__}); see the worker log",
        ) from error


# Above this many pixels per image the VAE decodes in overlapping tiles: its
# activations at full size outgrow the UNet's (about 1024x1024 on SDXL in bf16).
VAE_TILING_PIXELS = 1024 * 1024


@contextmanager
def vae_tiling_for(pipeline: DiffusionPipeline, width: int, height: int) -> Iterator[None]:
    """The pipeline's VAE decoding in tiles for one call when the images are large.
    Set per call on the shared VAE and reset after it (one call at a time per
    process); the size is part of the batch key, so a job alone and in a batch
    decode alike."""
    pipeline.vae.use_tiling = width * height > VAE_TILING_PIXELS
    try:
        yield
    finally:
        pipeline.vae.use_tiling = False


@dataclass
class CacheStats:
    loads: int = 0
    hits: int = 0
    evictions: int = 0


class PipelineCache:
    """Loaded pipelines of one worker process, at most `settings.pipeline_cache_size`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.capacity = settings.pipeline_cache_size
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        self.stats = CacheStats()
        self._pipelines: OrderedDict[tuple[str, str, str], DiffusionPipeline] = OrderedDict()
        self._compiled_shapes: set[tuple] = set()
        # A worker logs lines; loading bars from diffusers and transformers would
        # flood its log (the pipelines' own step bars are disabled per pipeline).
        diffusers_logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()

    def __len__(self) -> int:
        return len(self._pipelines)

    def pipeline_for_job(self, model_name: str, scheduler_name: str | None) -> DiffusionPipeline:
        return with_fresh_scheduler(self.get(model_name), scheduler_name)

    def get(self, model_name: str) -> DiffusionPipeline:
        """The model's loaded pipeline, loading it (and evicting the oldest) on a miss."""
        entry = find_model(self.settings, model_name)
        if entry is None:
            raise JobFailure("model_not_found", f"model {model_name!r} is not installed on this worker")
        key = (entry.source, str(self.dtype), str(self.device))
        if key in self._pipelines:
            self._pipelines.move_to_end(key)
            self.stats.hits += 1
            return self._pipelines[key]
        while len(self._pipelines) >= self.capacity:
            self._evict_oldest()
        pipeline = self._load(model_name, entry.source)
        self._pipelines[key] = pipeline
        return pipeline

    def _load(self, model_name: str, source: str) -> DiffusionPipeline:
        started = time.monotonic()
        refuse_pickle_weights(model_name, source)
        try:
            pipeline = AutoPipelineForText2Image.from_pretrained(
                source, dtype=self.dtype, use_safetensors=True, safety_checker=None
            )
        except (OSError, ValueError) as error:
            # Missing files, no safetensors weights, an unknown pipeline class.
            # The details (paths on this machine) go to the worker log, not to the job's owner.
            raise JobFailure(
                "model_load_failed",
                f"model {model_name!r} could not be loaded ({type(error).__name__}); see the worker log",
            ) from error
        pipeline.to(self.device)
        self._speed_up(pipeline)
        # Step progress goes to the job row instead of a tqdm bar.
        pipeline.set_progress_bar_config(disable=True)
        self.stats.loads += 1
        log.info(
            "loaded pipeline %s (%s, %s, %s) in %.1f s",
            model_name, type(pipeline).__name__, self.dtype, self.device, time.monotonic() - started,
        )
        return pipeline

    def _speed_up(self, pipeline: DiffusionPipeline) -> None:
        """The fast path (docs/performance.md). Attention is already SDPA (diffusers'
        default on torch 2) and the dtype bf16 on CUDA (resolve_dtype)."""
        # One image at a time through the VAE decoder: a batch's decode then needs
        # the memory of one image, for a negligible cost next to the denoising.
        pipeline.vae.enable_slicing()
        if self.device.type == "cuda":
            # NHWC convolutions run on the tensor cores without layout transposes.
            pipeline.unet.to(memory_format=torch.channels_last)
            pipeline.vae.to(memory_format=torch.channels_last)
        if self.settings.compile_unet:
            # In place (the module stays a UNet for LoRA loading); compiled lazily,
            # on the first call of each shape: see compile_timed.
            pipeline.unet.compile()

    @contextmanager
    def compile_timed(self, model_name: str, shape: tuple[int, ...]) -> Iterator[None]:
        """Logs how long the first call of a shape took when the UNet is compiled:
        that call pays the compile, once per process and shape."""
        key = (model_name, *shape)
        if not self.settings.compile_unet or key in self._compiled_shapes:
            yield
            return
        started = time.monotonic()
        yield
        self._compiled_shapes.add(key)
        log.info(
            "first call of %s at shape %s took %.1f s, compiling the UNet included",
            model_name, shape, time.monotonic() - started,
        )

    def _evict_oldest(self) -> None:
        (source, _, _), pipeline = self._pipelines.popitem(last=False)
        self.stats.evictions += 1
        log.info("evicted pipeline %s from the cache", source)
        del pipeline
        # Give the accelerator memory back before the next model loads into it.
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
