"""The `upscale` executor: one input image made `scale` times larger by its upscaler
(worker/upscalers.py), one PNG. Never touches Celery, the database or storage."""

import uuid
from functools import partial

from db.kinds.upscale import UpscaleSpec, upscaled_size
from worker.executors.generate import decoded_input_image, encode_png
from worker.executors.interface import ArtifactOutput, JobContext, JobInput, KindExecutor
from worker.failures import parse_params
from worker.upscalers import upscale_image


def run_upscale(job: JobInput, context: JobContext) -> list[ArtifactOutput]:
    spec = parse_params(UpscaleSpec, job.params, "upscale")
    image = decoded_input_image(context.input_image(uuid.UUID(spec.image)), "image")
    size = upscaled_size(image.width, image.height, spec.scale)
    upscaled = upscale_image(
        image,
        size,
        spec.upscaler,
        context.upscalers,
        prompt=spec.prompt,
        steps=spec.steps,
        seed=spec.seed,
        on_step=context.report_progress,
    )
    text = {"image": spec.image, "upscaler": spec.upscaler, "scale": str(spec.scale), "seed": str(spec.seed)}
    if spec.prompt:
        text["prompt"] = spec.prompt
    return [
        ArtifactOutput(
            index=0,
            kind="image",
            content_type="image/png",
            extension="png",
            data=partial(encode_png, upscaled, text),
            width=upscaled.width,
            height=upscaled.height,
            seed=spec.seed,
        )
    ]


EXECUTOR = KindExecutor(run_upscale)
