"""The `generate` executor: text (or an image) to images with a cached diffusers
pipeline, one PNG each; a hires pass upscales them and denoises them again.

Seeds: image i of a job with seed s is drawn from a generator seeded s + i, so it
equals image 0 of the same job submitted with seed s + i. The noise is drawn on
the CPU, as diffusers' reproducibility guide recommends, so a seed means the
same starting noise on every device. Never touches Celery, the database or storage.

Cross-job batching (docs/performance.md): jobs with one batch key (db/batches.py)
run as one pipeline call, one generator per image, so each job gets the images
it would get alone; a single job is a batch of one.
"""

import io
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from diffusers import AutoencoderTiny, DiffusionPipeline
from PIL import Image, ImageFilter
from PIL.PngImagePlugin import PngInfo

from db.batches import batch_key
from db.infotext import PARAMETERS_CHUNK, infotext_of_genq_chunks
from db.kinds.generate import AdapterRef, GenerateSpec, hires_size
from worker.executors.interface import AdapterWeights, ArtifactOutput, JobContext, JobInput, KindExecutor
from worker.failures import JobFailure, parse_params
from worker.pipelines import PipelineMode, loras_applied, vae_tiling_for
from worker.previews import preview_images
from worker.progress import JobCanceled
from worker.upscalers import upscale_image

log = logging.getLogger(__name__)


def run_generate(job: JobInput, context: JobContext) -> list[ArtifactOutput]:
    [result] = run_generate_batch([job], [context])
    if isinstance(result, BaseException):
        raise result
    return result


@dataclass
class _BatchedJob:
    """One job of a batch and what the batch learned about it."""

    job: JobInput
    context: JobContext
    spec: GenerateSpec
    # The weights of spec.adapters, in their order.
    adapters: list[AdapterWeights]
    # Image-to-image and inpainting: the init image and the blurred mask, at the job's size.
    init_image: Image.Image | None = None
    mask: Image.Image | None = None
    canceled: JobCanceled | None = None

    @property
    def scored(self) -> bool:
        return self.spec.score or self.context.scores_every_image


def run_generate_batch(
    jobs: Sequence[JobInput], contexts: Sequence[JobContext]
) -> list[list[ArtifactOutput] | BaseException]:
    """Jobs with one batch key as one pipeline call: each job's outputs, or the
    exception that ended it, in the jobs' order.

    A job whose params or adapters are refused fails alone before the call. Each
    step reports progress to every job still in the batch; a job canceled there
    leaves the batch (its rows go on being computed and are dropped: cutting them
    out would break schedulers that keep per-row state or draw per-row noise) and
    the others go on. A failure of the call itself is every remaining job's."""
    results: list[list[ArtifactOutput] | BaseException] = [[] for _ in jobs]
    batch: list[tuple[int, _BatchedJob]] = []
    for index, (job, context) in enumerate(zip(jobs, contexts, strict=True)):
        try:
            spec = parse_params(GenerateSpec, job.params, "generate")
            member = _BatchedJob(job, context, spec, adapter_weights(job, spec.adapters, context))
            _read_input_images(member)
            batch.append((index, member))
        except Exception as error:
            results[index] = error
    if not batch:
        return results
    keys = {batch_key("generate", member.job.model, member.spec.model_dump(mode="json")) for _, member in batch}
    if len(keys) > 1:
        raise ValueError(f"jobs of {len(keys)} batch keys cannot share a pipeline call")
    try:
        images = _generate([member for _, member in batch])
    except Exception as error:
        for index, member in batch:
            results[index] = member.canceled or error
        return results
    scores = _scores([member for _, member in batch], images)
    for (index, member), job_images, job_scores in zip(batch, images, scores, strict=True):
        if member.canceled is not None:
            results[index] = member.canceled
            continue
        if isinstance(job_scores, BaseException):
            results[index] = job_scores
            continue
        try:
            results[index] = _outputs(member, job_images, job_scores)
        except Exception as error:
            results[index] = error
    return results


def _scores(batch: list[_BatchedJob], images: list[list[Image.Image]]) -> list[list[float | None] | BaseException]:
    """Each job's images' CLIP scores against its prompt, right after decoding: one
    call of the worker's cached scorer for every image of the jobs that asked (None
    for the others' images); a failure of the call is each of those jobs'."""
    scores: list[list[float | None] | BaseException] = [[None] * len(job_images) for job_images in images]
    asking = [index for index, member in enumerate(batch) if member.scored and member.canceled is None]
    if not asking:
        return scores
    try:
        flat = (
            batch[0]
            .context.clip_models.scorer()
            .scores(
                [image for index in asking for image in images[index]],
                [batch[index].spec.prompt for index in asking for _ in images[index]],
            )
        )
    except Exception as error:
        for index in asking:
            scores[index] = error
        return scores
    start = 0
    for index in asking:
        count = len(images[index])
        scores[index] = list(flat[start : start + count])
        start += count
    return scores


def _mode(spec: GenerateSpec) -> PipelineMode:
    if spec.mask_image is not None:
        return "inpaint"
    return "text" if spec.init_image is None else "image"


def _read_input_images(member: _BatchedJob) -> None:
    """The job's init image at its size (db.kinds.generate sized it at submit) and its
    mask, blurred, at the same size."""
    spec = member.spec
    if spec.init_image is None:
        return
    size = (spec.width, spec.height) if spec.width and spec.height else None
    init = decoded_input_image(member.context.input_image(uuid.UUID(spec.init_image)), "init_image").convert("RGB")
    member.init_image = init.resize(size, Image.Resampling.LANCZOS) if size and init.size != size else init
    if spec.mask_image is not None:
        mask = decoded_input_image(member.context.input_image(uuid.UUID(spec.mask_image)), "mask_image").convert("L")
        mask = mask.resize(member.init_image.size, Image.Resampling.LANCZOS)
        member.mask = mask.filter(ImageFilter.GaussianBlur(spec.mask_blur)) if spec.mask_blur else mask


def decoded_input_image(data: bytes, param: str) -> Image.Image:
    """An input image's stored bytes (a PNG) as an image; a job failure if they are damaged."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError) as error:  # stored re-encoded at upload: only a damaged object fails here
        raise JobFailure("invalid_params", f"{param}: the stored image cannot be decoded") from error
    return image


def _mode_arguments(batch: list[_BatchedJob], width: int, height: int) -> dict[str, Any]:
    """The pipeline arguments of the batch's mode: one init image (and mask) per image."""
    first = batch[0]
    if first.init_image is None:
        return {"width": width, "height": height}
    per_image = [member for member in batch for _ in range(member.spec.num_images)]
    arguments: dict[str, Any] = {
        "image": [member.init_image for member in per_image],
        "strength": first.spec.strength,
    }
    if first.mask is not None:
        arguments |= {"mask_image": [member.mask for member in per_image], "width": width, "height": height}
    return arguments


def _generate(batch: list[_BatchedJob]) -> list[list[Image.Image]]:
    """One pipeline call for every image of the batch (and one more for a hires
    pass): each job's images, in order."""
    first = batch[0]
    spec = first.spec
    pipelines = first.context.pipelines
    pipeline = pipelines.pipeline_for_job(first.job.model, spec.scheduler, _mode(spec))
    native = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    if first.init_image is not None:
        native_width, native_height = first.init_image.size
    else:
        native_width = native_height = native
    width, height = spec.width or native_width, spec.height or native_height
    prompts, negative_prompts, seeds = [], [], []
    for member in batch:
        for index in range(member.spec.num_images):
            prompts.append(member.spec.prompt)
            negative_prompts.append(member.spec.negative_prompt)
            seeds.append(member.spec.seed + index)
    # None, not a list of "", when no job has one: SDXL then uses zero
    # embeddings (force_zeros_for_empty_prompt), as each job alone would.
    prompt_arguments = {"prompt": prompts, "negative_prompt": negative_prompts if any(negative_prompts) else None}
    # The hires pass's steps are known when it starts; until then, about strength x steps of them.
    hires_steps = 0 if spec.hires is None else _hires_timesteps(spec, pipeline.scheduler.order)
    decoder = pipelines.preview_decoder(first.job.model) if pipelines.settings.preview_every_steps else None

    with (
        _Previews(pipeline.device, decoder) as previews,
        _adapters_applied(pipeline, first),
        torch.inference_mode(),
    ):
        with (
            vae_tiling_for(pipeline, width, height),
            pipelines.compile_timed(first.job.model, (len(prompts), height, width)),
        ):
            result = pipeline(
                **prompt_arguments,
                **_mode_arguments(batch, width, height),
                num_inference_steps=spec.steps,
                guidance_scale=spec.guidance_scale,
                num_images_per_prompt=1,
                generator=_generators(seeds),
                callback_on_step_end=_progress_reporter(batch, previews, done=0, to_come=hires_steps),
                output_type="pil",
            )
        made = result.images
        if spec.hires is not None:
            made = _hires_pass(batch, previews, made, prompt_arguments, seeds, done=pipeline.num_timesteps)
    images, start = [], 0
    for member in batch:
        images.append([_kept_outside_mask(member, image) for image in made[start : start + member.spec.num_images]])
        start += member.spec.num_images
    return images


def _generators(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(seed) for seed in seeds]


def _progress_reporter(
    batch: list[_BatchedJob], previews: "_Previews", *, done: int, to_come: int
) -> Callable[..., dict]:
    """A callback_on_step_end reporting each step to every job still in the batch, as
    step `done` + this call's, of `done` + this call's + `to_come` (a hires pass),
    and every GENQ_PREVIEW_EVERY_STEPS steps a preview of each job's images."""
    every = batch[0].context.pipelines.settings.preview_every_steps

    def on_step_end(pipe, step_index: int, _timestep, callback_kwargs: dict) -> dict:
        # num_timesteps, not spec.steps: second-order schedulers (heun) take about
        # two model evaluations per step. Plain ints only: no GPU sync per step.
        step = done + step_index + 1
        for member in batch:
            if member.canceled is None:
                try:
                    member.context.report_progress(step, done + pipe.num_timesteps + to_come)
                except JobCanceled as canceled:
                    member.canceled = canceled
        last = batch[-1].canceled
        if last is not None and all(member.canceled is not None for member in batch):
            raise last  # no one is left to use the rest of the run
        # Not after the last step: the image itself comes next.
        if every and (step_index + 1) % every == 0 and step_index + 1 < pipe.num_timesteps:
            total = done + pipe.num_timesteps + to_come
            latents = callback_kwargs["latents"].detach()
            # The linear map reads them on the CPU (the one wait for the GPU); a decoder where they are.
            latents = latents.clone() if previews.decoder is not None else latents.float().cpu()
            previews.send(batch, step, total, latents, pipe.vae_scale_factor)
        return callback_kwargs

    return on_step_end


class _Previews:
    """Where a step's previews are made and sent: beside a GPU's denoising loop, on
    a thread of their own (the loop waits for the GPU; the thread encodes), drained
    before the images are returned, so none comes after its job's images; on the
    CPU, in the loop, where a second thread slows torch's own threads more than the
    previews cost (ops/bench/previews.py: +7-10% on a thread, +3% in the loop)."""

    def __init__(self, device: torch.device, decoder: AutoencoderTiny | None) -> None:
        self.decoder = decoder  # the model's preview decoder; None: the linear map
        self._thread = None if device.type == "cpu" else ThreadPoolExecutor(1, thread_name_prefix="genq-previews")

    def send(self, batch: list[_BatchedJob], step: int, total: int, latents: torch.Tensor, scale_factor: int) -> None:
        if self._thread is None:
            _report_previews(batch, step, total, latents, scale_factor, self.decoder)
        else:
            self._thread.submit(_report_previews, batch, step, total, latents, scale_factor, self.decoder)

    def __enter__(self) -> "_Previews":
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)


def _report_previews(
    batch: list[_BatchedJob],
    step: int,
    total: int,
    latents: torch.Tensor,
    scale_factor: int,
    decoder: AutoencoderTiny | None,
) -> None:
    """Each job's previews of the batch's latents (one per image, in the batch's order
    of images). On the previews' thread: a failure is logged, the job goes on."""
    try:
        previews = preview_images(latents, scale_factor, decoder)
    except Exception:
        log.exception("the previews of step %d could not be made", step)
        return
    start = 0
    for member in batch:
        if member.canceled is None:
            for index in range(member.spec.num_images):
                member.context.report_preview(index, step, total, previews[start + index])
        start += member.spec.num_images


def _hires_timesteps(spec: GenerateSpec, scheduler_order: int) -> int:
    """The steps an image-to-image pass of the hires spec takes (diffusers runs the
    last strength x steps of its schedule)."""
    assert spec.hires is not None
    steps = spec.hires.steps or spec.steps
    return min(int(steps * spec.hires.strength), steps) * scheduler_order


def _hires_pass(
    batch: list[_BatchedJob],
    previews: _Previews,
    images: list[Image.Image],
    prompt_arguments: dict[str, Any],
    seeds: list[int],
    done: int,
) -> list[Image.Image]:
    """AUTOMATIC1111's hires fix: each image upscaled (worker/upscalers.py), then denoised
    again by the image-to-image pipeline built from the cached one (from_pipe: the same
    modules, the job's adapters still applied), with the same seeds."""
    first = batch[0]
    spec, hires = first.spec, first.spec.hires
    assert hires is not None
    steps = hires.steps or spec.steps
    size = hires_size(images[0].width, images[0].height, hires.scale)
    upscaled = [
        upscale_image(
            image,
            size,
            hires.upscaler,
            first.context.upscalers,
            prompt=prompt,
            steps=steps,
            seed=seed,
            # The denoising pass that follows reports progress (and hears of a cancel).
            on_step=lambda _step, _total: None,
        )
        for image, prompt, seed in zip(images, prompt_arguments["prompt"], seeds, strict=True)
    ]
    pipeline = first.context.pipelines.pipeline_for_job(first.job.model, spec.scheduler, "image")
    width, height = size
    with (
        vae_tiling_for(pipeline, width, height),
        first.context.pipelines.compile_timed(first.job.model, (len(upscaled), height, width)),
    ):
        result = pipeline(
            **prompt_arguments,
            image=upscaled,
            strength=hires.strength,
            num_inference_steps=steps,
            guidance_scale=spec.guidance_scale,
            num_images_per_prompt=1,
            generator=_generators(seeds),
            callback_on_step_end=_progress_reporter(batch, previews, done=done, to_come=0),
            output_type="pil",
        )
    hired: list[Image.Image] = result.images
    return hired


def _kept_outside_mask(member: _BatchedJob, image: Image.Image) -> Image.Image:
    """Inpainting: the init image's own pixels wherever the blurred mask is black,
    blended along its edge (as AUTOMATIC1111 overlays them): the VAE's round trip
    would otherwise change the whole picture a little."""
    if member.mask is None or member.init_image is None:
        return image
    return Image.composite(image, member.init_image, member.mask)


def _outputs(member: _BatchedJob, images: list[Image.Image], scores: list[float | None]) -> list[ArtifactOutput]:
    spec = member.spec
    return [
        ArtifactOutput(
            index=index,
            kind="image",
            content_type="image/png",
            extension="png",
            data=partial(encode_png, image, png_text(spec, member.job.model, spec.seed + index, image.size)),
            width=image.width,
            height=image.height,
            seed=spec.seed + index,
            clip_score=score,
        )
        for index, (image, score) in enumerate(zip(images, scores, strict=True))
    ]


def adapter_weights(job: JobInput, adapters: Sequence[AdapterRef], context: JobContext) -> list[AdapterWeights]:
    """The job's adapters' weights, read through the job's own context: each job of a
    batch must be allowed its adapters, though the batch loads them once."""
    found = []
    for adapter in adapters:
        weights = context.adapter(adapter.id)
        if weights.base_model != job.model:
            # Refused at submit already; an adapter's shapes only fit the model it was trained on.
            raise JobFailure(
                "adapter_model_mismatch",
                f"adapter {adapter.id} was trained for model {weights.base_model!r}, not {job.model!r}",
            )
        found.append(weights)
    return found


def _adapters_applied(pipeline: DiffusionPipeline, member: _BatchedJob) -> AbstractContextManager[None]:
    """The batch's adapters (ids and scales are in the batch key) loaded for the call."""
    if not member.spec.adapters:
        return nullcontext()
    loras = [
        (weights.path, f"genq_{adapter.id.hex}", adapter.scale)
        for adapter, weights in zip(member.spec.adapters, member.adapters, strict=True)
    ]
    return loras_applied(pipeline, loras)


def png_text(spec: GenerateSpec, model: str, seed: int, size: tuple[int, int]) -> dict[str, str]:
    """What the image was made with, enough to make it again: genq's own chunks, and
    the same said as AUTOMATIC1111's `parameters` infotext, which tools that read
    A1111's PNGs read."""
    text: dict[str, str] = {
        "prompt": spec.prompt,
        "negative_prompt": spec.negative_prompt,
        "seed": str(seed),
        "steps": str(spec.steps),
        "guidance_scale": str(spec.guidance_scale),
        "scheduler": spec.scheduler or "default",
        "model": model,
    }
    if spec.adapters:
        text["adapters"] = json.dumps([adapter.model_dump(mode="json") for adapter in spec.adapters])
    if spec.init_image is not None:
        text |= {"init_image": spec.init_image, "strength": str(spec.strength)}
    if spec.mask_image is not None:
        text |= {"mask_image": spec.mask_image, "mask_blur": str(spec.mask_blur)}
    if spec.hires is not None:
        text |= {f"hires_{name}": str(value) for name, value in spec.hires.model_dump().items()}
    infotext = infotext_of_genq_chunks(text, size)
    assert infotext is not None, "the chunks hold a prompt and a seed"
    return text | {PARAMETERS_CHUNK: infotext}


def encode_png(image: Image.Image, text: dict[str, str]) -> bytes:
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)  # falls back to an iTXt chunk for non-Latin-1 text
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


EXECUTOR = KindExecutor(run_generate, run_generate_batch)
