"""The `generate` executor: text to images with a cached diffusers pipeline, one PNG each.

Seeds: image i of a job with seed s is drawn from a generator seeded s + i, so it
equals image 0 of the same job submitted with seed s + i. The noise is drawn on
the CPU, as diffusers' reproducibility guide recommends, so a seed means the
same starting noise on every device. Never touches Celery, the database or storage.
"""

import io

import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from pydantic import ValidationError

from db.specs import GenerateSpec
from worker.executors.interface import ArtifactOutput, JobContext, JobInput
from worker.failures import JobFailure


def run_generate(job: JobInput, context: JobContext) -> list[ArtifactOutput]:
    spec = parse_spec(job.params)
    pipeline = context.pipelines.pipeline_for_job(job.model, spec.scheduler)
    native = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    generators = [
        torch.Generator("cpu").manual_seed(spec.seed + index) for index in range(spec.num_images)
    ]

    def on_step_end(pipe, step_index: int, _timestep, callback_kwargs: dict) -> dict:
        # num_timesteps, not spec.steps: second-order schedulers (heun) take about
        # two model evaluations per step. Plain ints only: no GPU sync per step.
        context.report_progress(step_index + 1, pipe.num_timesteps)
        return callback_kwargs

    with torch.inference_mode():
        result = pipeline(
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt or None,
            width=spec.width or native,
            height=spec.height or native,
            num_inference_steps=spec.steps,
            guidance_scale=spec.guidance_scale,
            num_images_per_prompt=spec.num_images,
            generator=generators,
            callback_on_step_end=on_step_end,
            output_type="pil",
        )
    return [
        ArtifactOutput(
            index=index,
            kind="image",
            content_type="image/png",
            extension="png",
            data=encode_png(image, png_text(spec, job.model, spec.seed + index)),
            width=image.width,
            height=image.height,
            seed=spec.seed + index,
        )
        for index, image in enumerate(result.images)
    ]


def parse_spec(params: dict) -> GenerateSpec:
    try:
        return GenerateSpec.model_validate(params)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc'])) or 'params'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise JobFailure("invalid_params", f"invalid generate params: {problems}") from error


def png_text(spec: GenerateSpec, model: str, seed: int) -> dict[str, str]:
    """What the image was made with, enough to make it again."""
    return {
        "prompt": spec.prompt,
        "negative_prompt": spec.negative_prompt,
        "seed": str(seed),
        "steps": str(spec.steps),
        "guidance_scale": str(spec.guidance_scale),
        "scheduler": spec.scheduler or "default",
        "model": model,
    }


def encode_png(image: Image.Image, text: dict[str, str]) -> bytes:
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)  # falls back to an iTXt chunk for non-Latin-1 text
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
