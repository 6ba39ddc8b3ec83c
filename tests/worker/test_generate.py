"""The generate executor run in-process on the tiny model: sizes, seeds,
determinism, PNG metadata and progress, with no Celery, database or storage."""

import io
import uuid

import numpy as np
import pytest
from PIL import Image

from db.kinds.generate import SCHEDULERS, GenerateSpec
from tests.worker.conftest import TINY_MODEL
from tests.worker.contexts import LocalJobContext
from worker.executors import ArtifactOutput, JobInput
from worker.executors.generate import run_generate
from worker.failures import JobFailure


def generate(pipelines, progress=None, model=TINY_MODEL, **params) -> list[ArtifactOutput]:
    params = {"prompt": "a lighthouse at dusk", "steps": 3, "seed": 1234, **params}
    context = LocalJobContext(pipelines, progress or (lambda step, total: None))
    return run_generate(JobInput(uuid.uuid4(), model, params), context)


def pixels(output: ArtifactOutput) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(output.encoded())).convert("RGB"), dtype=np.float32)


@pytest.mark.parametrize(("width", "height"), [(64, 64), (72, 64), (64, 80)])
def test_image_has_the_requested_size(shared_pipelines, width, height):
    [output] = generate(shared_pipelines, width=width, height=height)

    image = Image.open(io.BytesIO(output.encoded()))
    assert image.format == "PNG"
    assert image.size == (width, height) == (output.width, output.height)
    assert output.content_type == "image/png" and output.extension == "png"


def test_no_size_means_the_models_native_size(shared_pipelines):
    [output] = generate(shared_pipelines)

    # The tiny UNet's sample_size of 8 latents times the VAE's factor of 8.
    assert (output.width, output.height) == (64, 64)


def test_image_is_not_flat(shared_pipelines):
    [output] = generate(shared_pipelines)

    assert pixels(output).std() > 5


def test_same_seed_and_params_give_identical_bytes(shared_pipelines):
    first = generate(shared_pipelines, seed=77, num_images=2)
    second = generate(shared_pipelines, seed=77, num_images=2)

    assert [output.encoded() for output in first] == [output.encoded() for output in second]


def test_num_images_gives_distinct_images_with_consecutive_seeds(shared_pipelines):
    outputs = generate(shared_pipelines, seed=500, num_images=2)

    assert [output.index for output in outputs] == [0, 1]
    assert [output.seed for output in outputs] == [500, 501]
    assert np.abs(pixels(outputs[0]) - pixels(outputs[1])).mean() > 1


def test_image_i_of_seed_s_is_image_0_of_seed_s_plus_i(shared_pipelines):
    [_, second] = generate(shared_pipelines, seed=900, num_images=2)
    [alone] = generate(shared_pipelines, seed=901)

    # Batched and single runs may round differently in the last bit; the picture is the same.
    assert np.abs(pixels(second) - pixels(alone)).max() <= 2


def test_png_text_chunks_describe_how_the_image_was_made(shared_pipelines):
    outputs = generate(
        shared_pipelines,
        seed=42,
        num_images=2,
        negative_prompt="fog",
        scheduler="ddim",
        guidance_scale=5.0,
    )

    texts = [Image.open(io.BytesIO(output.encoded())).text for output in outputs]
    assert [text["seed"] for text in texts] == ["42", "43"]
    assert texts[0] == {
        "prompt": "a lighthouse at dusk",
        "negative_prompt": "fog",
        "seed": "42",
        "steps": "3",
        "guidance_scale": "5.0",
        "scheduler": "ddim",
        "model": TINY_MODEL,
        # AUTOMATIC1111's infotext, as its tools read it.
        "parameters": "a lighthouse at dusk\nNegative prompt: fog\n"
        f"Steps: 3, Sampler: DDIM, CFG scale: 5.0, Seed: 42, Size: 64x64, Model: {TINY_MODEL}",
    }
    assert texts[1]["parameters"].endswith(f"Seed: 43, Size: 64x64, Model: {TINY_MODEL}")


def test_non_latin_prompt_survives_in_the_png(shared_pipelines):
    [output] = generate(shared_pipelines, prompt="灯台 at dusk")

    assert Image.open(io.BytesIO(output.encoded())).text["prompt"] == "灯台 at dusk"


def test_progress_reports_every_step_up_to_the_total(shared_pipelines):
    reports = []
    generate(shared_pipelines, steps=4, progress=lambda step, total: reports.append((step, total)))

    assert reports == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_progress_total_counts_model_evaluations_of_second_order_schedulers(shared_pipelines):
    reports = []
    generate(shared_pipelines, steps=3, scheduler="heun", progress=lambda *report: reports.append(report))

    total = reports[-1][1]
    assert total > 3 and reports[-1] == (total, total)
    assert [step for step, _ in reports] == list(range(1, total + 1))


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_makes_an_image(shared_pipelines, scheduler):
    [output] = generate(shared_pipelines, steps=2, scheduler=scheduler)

    assert pixels(output).std() > 5


def test_params_the_web_stored_are_accepted(shared_pipelines):
    stored = GenerateSpec(prompt="a red door", steps=2, width=64, height=64).model_dump(mode="json")

    [output] = run_generate(JobInput(uuid.uuid4(), TINY_MODEL, stored), LocalJobContext(shared_pipelines))

    assert output.seed == stored["seed"]


def test_invalid_params_fail_with_invalid_params(shared_pipelines):
    with pytest.raises(JobFailure) as failure:
        generate(shared_pipelines, steps=0, width=70)

    assert failure.value.code == "invalid_params"
    assert "steps" in str(failure.value) and "width" in str(failure.value)


def test_unknown_model_fails_with_model_not_found(shared_pipelines):
    with pytest.raises(JobFailure) as failure:
        generate(shared_pipelines, model="no-such-model")

    assert failure.value.code == "model_not_found"
    assert "no-such-model" in str(failure.value)


def test_previews_come_every_five_steps_for_each_image_before_the_last_step(shared_pipelines):
    params = {"prompt": "a lighthouse at dusk", "steps": 10, "seed": 3, "num_images": 2}
    context = LocalJobContext(shared_pipelines)
    run_generate(JobInput(uuid.uuid4(), TINY_MODEL, params), context)

    assert [(index, step, total) for index, step, total, _webp in context.previews] == [(0, 5, 10), (1, 5, 10)]
    first, second = (Image.open(io.BytesIO(webp)) for *_, webp in context.previews)
    # The image's size (at most 256 px), and each image its own.
    assert first.format == "WEBP" and first.size == second.size == (64, 64)
    assert np.asarray(first).tolist() != np.asarray(second).tolist()
