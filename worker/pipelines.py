"""The worker process's cache of loaded diffusers pipelines (worker/model_cache.py:
keys, eviction, loading rules), and per-job schedulers and LoRA adapters.

A job never runs on the cached pipeline object itself: it gets a
shallow copy (same weights) with a fresh scheduler, because schedulers keep
per-run state that must not leak from one job into the next; for the same reason
a job's adapters are unloaded from the shared weights when the job ends.
"""

import copy
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import torch
import transformers
from diffusers import (
    AutoencoderTiny,
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
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
from worker.model_cache import ModelCache
from worker.weights import refuse_pickle_weights

log = logging.getLogger(__name__)

# What a generate job does with its pipeline: from a prompt, from an init image, or repainting under a mask.
PipelineMode = Literal["text", "image", "inpaint"]
PIPELINE_FOR_MODE = {"image": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}
# The folder of a model's directory that holds its preview decoder (an AutoencoderTiny, TAESD).
PREVIEW_DECODER_FOLDER = "taesd"

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
def loras_applied(pipeline: DiffusionPipeline, loras: Sequence[tuple[Path, str, float]]) -> Iterator[None]:
    """`pipeline` with these LoRAs (path, adapter name, scale) loaded and active
    together at their scales (peft's multi-adapter set_adapters), for one job.

    The LoRAs go into the UNet (and text encoder) that a job's pipeline shares with
    the cached one, so they are always unloaded afterwards, also when loading failed
    halfway (that can leave LoRA layers injected). unload_lora_weights puts the
    original layers back, so a later job without adapters gets exactly the pixels
    it got before. A worker child runs one job at a time, so no other job sees the
    shared modules meanwhile; running jobs concurrently on one cache would need a lock here."""
    try:
        for path, adapter_name, _scale in loras:
            _load_lora(pipeline, path, adapter_name)
        pipeline.set_adapters([name for _, name, _ in loras], adapter_weights=[scale for _, _, scale in loras])
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


class PipelineCache(ModelCache[DiffusionPipeline]):
    """Loaded diffusers pipelines of one worker process."""

    kind = "image"
    noun = "pipeline"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._compiled_shapes: set[tuple] = set()
        self._preview_decoders: dict[str, AutoencoderTiny | None] = {}  # by model
        self._loaded_decoders: dict[str, AutoencoderTiny | None] = {}  # by source: GENQ_PREVIEW_DECODER's is shared
        # A worker logs lines; loading bars from diffusers and transformers would
        # flood its log (the pipelines' own step bars are disabled per pipeline).
        diffusers_logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()

    def pipeline_for_job(
        self, model_name: str, scheduler_name: str | None, mode: PipelineMode = "text"
    ) -> DiffusionPipeline:
        """The cached pipeline, or for image-to-image and inpainting the auto pipeline of
        that task built from its components (from_pipe: the same modules, nothing
        loaded again), with a fresh scheduler. diffusers' inpainting pipeline takes
        both ordinary (4-channel) and inpainting (9-channel) UNets."""
        pipeline = self.get(model_name)
        if mode != "text":
            pipeline = PIPELINE_FOR_MODE[mode].from_pipe(pipeline)
            pipeline.set_progress_bar_config(disable=True)
        return with_fresh_scheduler(pipeline, scheduler_name)

    def preview_decoder(self, model_name: str) -> AutoencoderTiny | None:
        """What decodes the model's previews: GENQ_PREVIEW_DECODER, else the model's own
        PREVIEW_DECODER_FOLDER; None (the linear map, worker/previews.py) without one,
        when it cannot be loaded or when its latents are not the model's (a TAESD of
        SD 1.x for a 16-channel model): a preview must never fail its job. Loaded
        once per source and process (a TAESD is about 10 MB)."""
        if model_name not in self._preview_decoders:
            self._preview_decoders[model_name] = self._load_preview_decoder(model_name)
        return self._preview_decoders[model_name]

    def _load_preview_decoder(self, model_name: str) -> AutoencoderTiny | None:
        source = self.settings.preview_decoder
        if source is None:
            entry = find_model(self.settings, model_name)
            folder = Path(entry.source) / PREVIEW_DECODER_FOLDER if entry is not None else None
            if folder is None or not folder.is_dir():
                return None
            source = str(folder)
        if source not in self._loaded_decoders:
            self._loaded_decoders[source] = self._load_decoder(source)
        decoder = self._loaded_decoders[source]
        if decoder is None:
            return None
        channels = self.get(model_name).vae.config.latent_channels
        if decoder.config.latent_channels != channels:
            log.warning(
                "the preview decoder in %s decodes %d latent channels, %s has %d; its previews use the linear map",
                source,
                decoder.config.latent_channels,
                model_name,
                channels,
            )
            return None
        log.info("previews of %s are decoded by the AutoencoderTiny in %s", model_name, source)
        return decoder

    def _load_decoder(self, source: str) -> AutoencoderTiny | None:
        try:
            refuse_pickle_weights(f"the preview decoder in {source}", source)
            decoder = AutoencoderTiny.from_pretrained(source, dtype=self.dtype, use_safetensors=True)
            return decoder.to(self.device).eval()
        except Exception:  # whatever it is, the jobs go on with the linear map
            log.exception("the preview decoder in %s could not be loaded; previews use the linear map", source)
            return None

    def warm_up(self, model_name: str) -> None:
        """Load the model and run it once at its native size (two steps), so the
        first job on it pays no loading, kernel selection or, with compile_unet,
        compiling of that shape."""
        pipeline = self.pipeline_for_job(model_name, None)
        size = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
        started = time.monotonic()
        with torch.inference_mode(), self.compile_timed(model_name, (1, size, size)):
            pipeline(prompt="warm-up", width=size, height=size, num_inference_steps=2, output_type="latent")
        log.info("warmed up %s at %dx%d in %.1f s", model_name, size, size, time.monotonic() - started)

    def _load(self, source: str) -> DiffusionPipeline:
        pipeline = AutoPipelineForText2Image.from_pretrained(
            source, dtype=self.dtype, use_safetensors=True, safety_checker=None
        )
        pipeline.to(self.device)
        self._speed_up(pipeline)
        # Step progress goes to the job row instead of a tqdm bar.
        pipeline.set_progress_bar_config(disable=True)
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
            model_name,
            shape,
            time.monotonic() - started,
        )
