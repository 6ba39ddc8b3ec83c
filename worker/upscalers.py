"""Making an image larger, for upscale jobs and a generate job's hires pass: Pillow's
Lanczos filter (`lanczos`, no model), or passes of an upscaler model, a diffusers
upscale pipeline loaded with from_pretrained and kept in the worker's cache
(worker/model_cache.py) like any other model. Knows no Celery, session or storage.
"""

import math
from collections.abc import Callable

import torch
from diffusers import DiffusionPipeline, StableDiffusionLatentUpscalePipeline
from PIL import Image

from db.kinds.upscale import LANCZOS
from worker.model_cache import ModelCache

# Called after each denoising step of a model's passes with (step, total) over all of them.
StepReport = Callable[[int, int], None]


class UpscalerCache(ModelCache[DiffusionPipeline]):
    """Loaded upscaler models of one worker process."""

    kind = "upscaler"
    noun = "upscaler"

    def _load(self, source: str) -> DiffusionPipeline:
        pipeline = DiffusionPipeline.from_pretrained(source, dtype=self.dtype, use_safetensors=True)
        pipeline.to(self.device)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline


def pass_factor(pipeline: DiffusionPipeline) -> int:
    """How many times larger one pass of an upscale pipeline makes an image: the
    latent upscaler doubles, the x4 upscaler's latents are the input's size and its
    VAE decodes them vae_scale_factor times larger."""
    return 2 if isinstance(pipeline, StableDiffusionLatentUpscalePipeline) else int(pipeline.vae_scale_factor)


def model_passes(factor: int, image_size: tuple[int, int], size: tuple[int, int]) -> int:
    """The passes of this factor that make an image at least `size`; the last one's
    result is then resized down to it (as AUTOMATIC1111 does)."""
    needed = max(target / side for target, side in zip(size, image_size, strict=True))
    return max(1, math.ceil(math.log(needed, factor) - 1e-9))


def upscale_image(
    image: Image.Image,
    size: tuple[int, int],
    upscaler: str,
    upscalers: UpscalerCache,
    *,
    prompt: str,
    steps: int,
    seed: int,
    on_step: StepReport,
) -> Image.Image:
    """`image` resized to `size` by this upscaler: lanczos resamples it once; a model
    runs the passes that make it at least that large (each seeded `seed`, so the same
    job makes the same image), then it is resized to the exact size with Lanczos."""
    image = image.convert("RGB")
    if upscaler != LANCZOS:
        pipeline = upscalers.get(upscaler)
        passes = model_passes(pass_factor(pipeline), image.size, size)
        for done in range(passes):
            image = _model_pass(pipeline, _pass_input(pipeline, image), prompt, steps, seed, done, passes, on_step)
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def _pass_input(pipeline: DiffusionPipeline, image: Image.Image) -> Image.Image:
    """The image resized up to the size a pass takes: the latent upscaler's UNet halves
    its latents at every level, so its input must be a multiple of the VAE's factor
    times that (64 pixels for sd-x2-latent-upscaler). The x4 pipeline takes any size."""
    if not isinstance(pipeline, StableDiffusionLatentUpscalePipeline):
        return image
    multiple = pipeline.vae_scale_factor * 2 ** (len(pipeline.unet.config.block_out_channels) - 1)
    size = (-(-image.width // multiple) * multiple, -(-image.height // multiple) * multiple)
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def _model_pass(
    pipeline: DiffusionPipeline,
    image: Image.Image,
    prompt: str,
    steps: int,
    seed: int,
    done: int,
    passes: int,
    on_step: StepReport,
) -> Image.Image:
    def report(step: int, _timestep, _latents) -> None:
        # The scheduler's timesteps: second-order schedulers take two per step.
        per_pass = len(pipeline.scheduler.timesteps)
        on_step(done * per_pass + step + 1, passes * per_pass)

    with torch.inference_mode():
        # The upscale pipelines report through the older `callback` (no callback_on_step_end).
        result = pipeline(
            prompt=prompt,
            image=image,
            num_inference_steps=steps,
            generator=torch.Generator("cpu").manual_seed(seed),
            callback=report,
            callback_steps=1,
            output_type="pil",
        )
    upscaled: Image.Image = result.images[0]
    return upscaled
