"""The finetune executor run in-process on the tiny model: it trains, reports one
finite loss per step, is reproducible from its seed, resumes from a checkpoint
exactly where an uninterrupted run would be, leaves the cached pipeline alone,
and its adapter file loads with diffusers' load_lora_weights."""

import io
import uuid

import numpy as np
import pytest
import safetensors.torch
import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from tests.support.training import training_pngs
from tests.worker.conftest import TINY_MODEL
from tests.worker.contexts import LocalJobContext
from worker.executors import ArtifactOutput, JobInput
from worker.executors.finetune import run_finetune
from worker.executors.generate import run_generate
from worker.executors.interface import TrainingImage
from worker.failures import JobFailure
from worker.progress import JobCanceled

DATASET_ID = uuid.uuid4()


@pytest.fixture(scope="module")
def images() -> list[TrainingImage]:
    # The first has a caption of its own; the others are trained on the instance prompt.
    return [
        TrainingImage(f"{index}.png", png, "a photo of sks" if index == 0 else None)
        for index, png in enumerate(training_pngs())
    ]


def finetune(
    pipelines, images, *, context: LocalJobContext | None = None, **params
) -> tuple[list[ArtifactOutput], LocalJobContext]:
    params = {
        "dataset_id": str(DATASET_ID),
        "instance_prompt": "a photo of sks dog",
        "resolution": 64,
        "max_train_steps": 6,
        "batch_size": 2,
        "seed": 7,
        **params,
    }
    context = context or LocalJobContext(pipelines)
    context.datasets[DATASET_ID] = images
    return run_finetune(JobInput(uuid.uuid4(), TINY_MODEL, params), context), context


def test_trains_with_one_finite_loss_and_progress_per_step(shared_pipelines, images):
    progress = []
    context = LocalJobContext(shared_pipelines, lambda step, total: progress.append((step, total)))

    outputs, _ = finetune(shared_pipelines, images, context=context, max_train_steps=5, gradient_accumulation_steps=2)

    assert [step for step, _ in context.losses] == [1, 2, 3, 4, 5]
    assert all(np.isfinite(loss) and loss > 0 for _, loss in context.losses)
    assert progress == [(step, 5) for step in range(1, 6)]
    [adapter] = outputs
    assert (adapter.index, adapter.kind, adapter.extension) == (0, "adapter", "safetensors")


def test_same_seed_same_losses_other_seed_other_losses(shared_pipelines, images):
    _, first = finetune(shared_pipelines, images, seed=11)
    _, again = finetune(shared_pipelines, images, seed=11)
    _, other = finetune(shared_pipelines, images, seed=12)

    assert first.losses == again.losses
    assert first.losses != other.losses


def test_resuming_from_a_checkpoint_continues_as_if_never_stopped(shared_pipelines, images):
    uninterrupted_outputs, uninterrupted = finetune(shared_pipelines, images, checkpointing_steps=3)
    # The run above left its checkpoint of step 3 (none at the last step): a new attempt starts from it.
    assert uninterrupted.checkpoint is not None and uninterrupted.checkpoint.step == 3
    resumed_context = LocalJobContext(shared_pipelines, checkpoint=uninterrupted.checkpoint)

    resumed_outputs, resumed = finetune(shared_pipelines, images, context=resumed_context, checkpointing_steps=3)

    assert resumed.losses == uninterrupted.losses[3:]
    assert [step for step, _ in resumed.losses] == [4, 5, 6]
    first, second = (
        safetensors.torch.load(outputs[0].encoded()) for outputs in (uninterrupted_outputs, resumed_outputs)
    )
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_checkpoint_is_safetensors(shared_pipelines, images):
    _, context = finetune(shared_pipelines, images, checkpointing_steps=2)

    # Read back without unpickling anything: a safetensors file of the training state.
    tensors = safetensors.torch.load(context.checkpoint.data)
    assert any(name.startswith("lora.") for name in tensors)
    assert any(name.startswith("optimizer.") for name in tensors)


def test_training_leaves_the_cached_pipeline_as_it_was(shared_pipelines, images):
    cached_unet = shared_pipelines.get(TINY_MODEL).unet
    before = {name: tensor.clone() for name, tensor in cached_unet.state_dict().items()}

    finetune(shared_pipelines, images, validation_prompt="a photo of sks dog", num_validation_images=1)

    after = cached_unet.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[name], before[name]) for name in before)
    assert not getattr(cached_unet, "peft_config", None)
    assert shared_pipelines.get(TINY_MODEL).unet is cached_unet


def test_adapter_loads_with_load_lora_weights_and_changes_images(shared_pipelines, images, models_dir, tmp_path):
    [adapter], _ = finetune(shared_pipelines, images, max_train_steps=4, learning_rate=0.05)
    weights = tmp_path / "pytorch_lora_weights.safetensors"
    weights.write_bytes(adapter.encoded())
    pipeline = StableDiffusionPipeline.from_pretrained(models_dir / TINY_MODEL, safety_checker=None)
    pipeline.set_progress_bar_config(disable=True)

    def draw() -> np.ndarray:
        generator = torch.Generator("cpu").manual_seed(3)
        image = pipeline("a photo of sks dog", num_inference_steps=3, generator=generator, output_type="np").images
        return image[0]

    without = draw()
    pipeline.load_lora_weights(tmp_path, weight_name=weights.name)

    assert pipeline.get_active_adapters()
    assert not np.array_equal(draw(), without)


def test_validation_images_are_seeded_pngs_after_the_adapter(shared_pipelines, images):
    outputs, _ = finetune(
        shared_pipelines, images, max_train_steps=2, validation_prompt="a photo of sks dog", num_validation_images=2
    )
    again, _ = finetune(
        shared_pipelines, images, max_train_steps=2, validation_prompt="a photo of sks dog", num_validation_images=2
    )

    assert [(output.index, output.kind) for output in outputs] == [(0, "adapter"), (1, "image"), (2, "image")]
    assert [output.seed for output in outputs[1:]] == [7, 8]
    for output in outputs[1:]:
        image = Image.open(io.BytesIO(output.encoded()))
        assert (image.format, image.size) == ("PNG", (64, 64))
    assert [output.encoded() for output in outputs[1:]] == [output.encoded() for output in again[1:]]


def test_cancel_stops_training_at_that_step(shared_pipelines, images):
    def cancel_at_step_2(step: int, total: int) -> None:
        if step == 2:
            raise JobCanceled(step)

    with pytest.raises(JobCanceled):
        finetune(shared_pipelines, images, context=LocalJobContext(shared_pipelines, cancel_at_step_2))


def test_invalid_params_fail_the_job(shared_pipelines, images):
    with pytest.raises(JobFailure) as failure:
        finetune(shared_pipelines, images, rank=0)

    assert failure.value.code == "invalid_params"


def test_validation_reports_the_clip_scores_of_the_base_model_and_the_adapter(shared_pipelines, images):
    params = {"max_train_steps": 2, "validation_prompt": "a photo of sks dog", "num_validation_images": 2}
    outputs, context = finetune(shared_pipelines, images, **params)
    _, again = finetune(shared_pipelines, images, **params)

    scores = [output.clip_score for output in outputs[1:]]
    validation = context.result["validation"]
    assert validation["clip_score_adapter"] == pytest.approx(sum(scores) / len(scores))
    assert validation["clip_score_base"] >= 0 and validation["clip_score_base"] != validation["clip_score_adapter"]
    assert again.result == context.result
    # The base model's images of the same seeds are what generate makes of the prompt.
    generated = run_generate(
        JobInput(
            uuid.uuid4(),
            TINY_MODEL,
            {
                "prompt": params["validation_prompt"],
                "seed": 7,
                "num_images": 2,
                "steps": 25,
                "width": 64,
                "height": 64,
                "score": True,
            },
        ),
        LocalJobContext(shared_pipelines),
    )
    assert validation["clip_score_base"] == pytest.approx(sum(o.clip_score for o in generated) / 2, abs=1e-4)
