"""The `finetune` executor: trains a LoRA on a dataset (worker/training.py) and
returns its weights as an `adapter` artifact (index 0, the .safetensors file that
pipeline.load_lora_weights reads) and, with a validation_prompt, images made with
the trained LoRA (indexes 1..n), scored against the prompt next to the base
model's images of the same seeds where a clip model is installed.

Every optimisation step reports its loss, then its progress (which raises
JobCanceled on a cancel); every checkpointing_steps the training state goes to the
job's checkpoint, and a new attempt of the job resumes from it. Never touches
Celery, the database or storage.
"""

import logging
import statistics

import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from PIL import Image

from db.kinds.finetune import FinetuneSpec
from worker.executors.generate import encode_png
from worker.executors.interface import ArtifactOutput, JobContext, JobInput, KindExecutor
from worker.failures import JobFailure, parse_params
from worker.pipelines import with_fresh_scheduler
from worker.training import LoraTrainer, TrainingExample, open_image

log = logging.getLogger(__name__)

VALIDATION_STEPS = 25
VALIDATION_GUIDANCE_SCALE = 7.5


def run_finetune(job: JobInput, context: JobContext) -> list[ArtifactOutput]:
    spec = parse_params(FinetuneSpec, job.params, "finetune")
    pipeline = context.pipelines.get(job.model)
    if not isinstance(pipeline, StableDiffusionPipeline):
        raise JobFailure(
            "unsupported_model", f"LoRA training needs a Stable Diffusion 1.x/2.x model, not {job.model!r}"
        )
    examples = [
        TrainingExample(open_image(image.data), image.caption or spec.instance_prompt)
        for image in context.dataset(spec.dataset_id)
    ]
    if not examples:
        raise JobFailure("invalid_params", "the dataset has no images")
    trainer = LoraTrainer(pipeline, spec, examples)
    checkpoint = context.load_checkpoint()
    if checkpoint is not None:
        trainer.load_state(checkpoint.data)
        log.info("job %s resumes training from its checkpoint at step %d", job.id, trainer.step)

    while trainer.step < spec.max_train_steps:
        loss = trainer.train_step()
        step = trainer.step
        # The loss first, so that the progress write of this step carries it.
        context.report_loss(step, loss.item())
        context.report_progress(step, spec.max_train_steps)
        if step % spec.checkpointing_steps == 0 and step < spec.max_train_steps:
            context.save_checkpoint(step, trainer.save_state())

    outputs = [
        ArtifactOutput(
            index=0,
            kind="adapter",
            content_type="application/octet-stream",
            extension="safetensors",
            data=trainer.lora_weights(),
        )
    ]
    if spec.validation_prompt is not None:
        outputs += validated(pipeline, trainer, spec, job.model, context)
    return outputs


def validated(
    pipeline: StableDiffusionPipeline, trainer: LoraTrainer, spec: FinetuneSpec, model: str, context: JobContext
) -> list[ArtifactOutput]:
    """The validation images made with the trained LoRA; where a clip model is
    installed, also those the base model makes from the same seeds (not kept), and
    the mean CLIP score of each set as the job's result: did the training help?"""
    images = validation_images(pipeline, spec, trainer.unet)
    scorer = context.clip_models.installed_scorer()
    scores: list[float | None] = [None] * len(images)
    if scorer is not None:
        prompts = [spec.validation_prompt or ""] * len(images)
        adapter_scores = scorer.scores(images, prompts)
        base_scores = scorer.scores(validation_images(pipeline, spec, None), prompts)
        context.report_result(
            {
                "validation": {
                    "clip_score_base": statistics.fmean(base_scores),
                    "clip_score_adapter": statistics.fmean(adapter_scores),
                }
            }
        )
        scores = list(adapter_scores)
    return [
        ArtifactOutput(
            index=1 + index,
            kind="image",
            content_type="image/png",
            extension="png",
            data=encode_png(
                image,
                {
                    "prompt": spec.validation_prompt or "",
                    "seed": str(spec.seed + index),
                    "model": model,
                    "lora": "trained",
                },
            ),
            width=image.width,
            height=image.height,
            seed=spec.seed + index,
            clip_score=score,
        )
        for index, (image, score) in enumerate(zip(images, scores, strict=True))
    ]


def validation_images(
    pipeline: StableDiffusionPipeline, spec: FinetuneSpec, unet: UNet2DConditionModel | None
) -> list[Image.Image]:
    """num_validation_images of validation_prompt, image i seeded spec.seed + i (as
    the generate executor seeds), with the trained UNet, or the base model's (None)."""
    validation = with_fresh_scheduler(pipeline, None)
    if unet is not None:
        # The job's copy of the pipeline gets the trained UNet; the cached one keeps its own.
        validation.unet = unet
        unet.eval()
    seeds = [spec.seed + index for index in range(spec.num_validation_images)]
    with torch.inference_mode():
        images: list[Image.Image] = validation(
            prompt=spec.validation_prompt,
            width=spec.resolution,
            height=spec.resolution,
            num_inference_steps=VALIDATION_STEPS,
            guidance_scale=VALIDATION_GUIDANCE_SCALE,
            num_images_per_prompt=len(seeds),
            generator=[torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            output_type="pil",
        ).images
    return images


EXECUTOR = KindExecutor(run_finetune)
