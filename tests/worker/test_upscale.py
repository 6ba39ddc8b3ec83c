"""The upscale executor in-process: lanczos is exactly Pillow's Lanczos resize, the
tiny x4 and x2 latent upscaler models (built offline, loaded with from_pretrained)
return the requested size for scales 2 and 4, deterministically, reporting their steps; a
generate job's hires pass returns scale x its base size."""

import io
import uuid

import numpy as np
import pytest
from PIL import Image

from db.settings import Settings
from tests.worker.conftest import TINY_MODEL
from tests.worker.contexts import LocalJobContext
from worker.executors import ArtifactOutput, JobInput
from worker.executors.generate import run_generate
from worker.executors.upscale import run_upscale
from worker.pipelines import PipelineCache
from worker.progress import JobCanceled
from worker.upscalers import UpscalerCache, model_passes

# The names tests/conftest.py builds them under.
UPSCALER, LATENT_UPSCALER = "tiny-upscaler", "tiny-latent-upscaler"
IMAGE_ID = uuid.uuid4()


def source_image(width: int = 40, height: int = 24) -> Image.Image:
    ramp = (np.indices((height, width)).sum(axis=0) * 5 % 256).astype(np.uint8)
    return Image.fromarray(np.stack([ramp, ramp[::-1], 255 - ramp], axis=-1))


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def decoded(output: ArtifactOutput) -> Image.Image:
    return Image.open(io.BytesIO(output.encoded()))


@pytest.fixture(scope="module")
def upscalers(upscaler_models_dir) -> UpscalerCache:
    return UpscalerCache(Settings(_env_file=None, models_dir=upscaler_models_dir))


def upscale(upscalers: UpscalerCache, image: Image.Image, progress: list | None = None, **params) -> ArtifactOutput:
    context = LocalJobContext(
        PipelineCache(upscalers.settings),
        on_progress=lambda step, total: (progress if progress is not None else []).append((step, total)),
        upscalers=upscalers,
        uploads={IMAGE_ID: png(image)},
    )
    params = {"image": str(IMAGE_ID), "seed": 3, **params}
    [output] = run_upscale(JobInput(uuid.uuid4(), params.get("upscaler", "lanczos"), params), context)
    return output


def test_lanczos_x2_is_exactly_pillows_lanczos_resize(upscalers):
    image = source_image()

    output = upscale(upscalers, image, upscaler="lanczos", scale=2)

    expected = image.resize((80, 48), Image.Resampling.LANCZOS)
    assert (output.width, output.height) == (80, 48)
    assert np.array_equal(np.asarray(decoded(output).convert("RGB")), np.asarray(expected))
    assert decoded(output).text["upscaler"] == "lanczos"
    assert upscalers.stats.loads == 0  # no model for lanczos


def test_lanczos_takes_a_fractional_scale_to_the_nearest_pixel(upscalers):
    output = upscale(upscalers, source_image(), upscaler="lanczos", scale=1.25)
    assert decoded(output).size == (50, 30)


@pytest.mark.parametrize(("scale", "size"), [(2, (80, 48)), (4, (160, 96))])
def test_an_upscaler_model_returns_the_requested_size(upscalers, scale, size):
    progress: list = []

    output = upscale(upscalers, source_image(), progress, upscaler=UPSCALER, scale=scale, steps=3, prompt="a ramp")

    assert decoded(output).size == size == (output.width, output.height)
    assert progress[-1] == (3, 3)  # one pass of the x4 model, its steps reported
    assert decoded(output).text["upscaler"] == UPSCALER


@pytest.mark.parametrize(("scale", "size", "passes"), [(2, (80, 48), 1), (4, (160, 96), 2)])
def test_the_latent_upscaler_doubles_per_pass_to_the_requested_size(upscalers, scale, size, passes):
    progress: list = []

    output = upscale(upscalers, source_image(), progress, upscaler=LATENT_UPSCALER, scale=scale, steps=2)

    assert decoded(output).size == size
    assert progress[-1] == (2 * passes, 2 * passes)


def test_an_upscaler_model_makes_the_same_image_from_the_same_seed(upscalers):
    first = upscale(upscalers, source_image(), upscaler=UPSCALER, scale=2, steps=2)
    again = upscale(upscalers, source_image(), upscaler=UPSCALER, scale=2, steps=2)
    other = upscale(upscalers, source_image(), upscaler=UPSCALER, scale=2, steps=2, seed=4)

    assert first.encoded() == again.encoded()
    assert first.encoded() != other.encoded()


def generate(upscalers: UpscalerCache, progress: list, **params) -> list[ArtifactOutput]:
    context = LocalJobContext(
        PipelineCache(upscalers.settings),
        on_progress=lambda step, total: progress.append((step, total)),
        upscalers=upscalers,
    )
    params = {"prompt": "a lighthouse", "width": 64, "height": 72, "steps": 4, "seed": 5, **params}
    return run_generate(JobInput(uuid.uuid4(), TINY_MODEL, params), context)


@pytest.mark.parametrize("upscaler", ["lanczos", UPSCALER])
def test_a_hires_pass_returns_scale_times_the_base_size(upscalers, upscaler):
    progress: list = []
    hires = {"scale": 2, "upscaler": upscaler, "strength": 0.5, "steps": 4}

    outputs = generate(upscalers, progress, num_images=2, hires=hires)

    assert [decoded(output).size for output in outputs] == [(128, 144)] * 2
    assert [(output.width, output.height) for output in outputs] == [(128, 144)] * 2
    # 4 steps at the base size, then 2 (4 x strength 0.5) at the hires size, counted as one run.
    assert progress[-1] == (6, 6) and progress[0] == (1, 6)
    assert decoded(outputs[0]).text["hires_scale"] == "2.0"


def test_a_hires_pass_changes_the_upscaled_image_and_is_deterministic(upscalers):
    hires = {"scale": 1.5, "strength": 0.6}
    [first] = generate(upscalers, [], hires=hires)
    [again] = generate(upscalers, [], hires=hires)
    [base] = generate(upscalers, [])

    assert first.encoded() == again.encoded()
    assert decoded(first).size == (96, 104)
    upscaled = decoded(base).resize((96, 104), Image.Resampling.LANCZOS)
    assert not np.array_equal(np.asarray(decoded(first).convert("RGB")), np.asarray(upscaled))


@pytest.mark.parametrize(
    ("factor", "image_size", "size", "passes"),
    [(4, (40, 24), (80, 48), 1), (4, (40, 24), (160, 96), 1), (2, (40, 24), (80, 48), 1), (2, (40, 24), (160, 96), 2)],
)
def test_a_model_runs_the_passes_of_its_factor_that_reach_the_size(factor, image_size, size, passes):
    assert model_passes(factor, image_size, size) == passes


def test_a_canceled_upscale_stops_at_the_step_it_heard_of_it(upscalers):
    def cancel_at_step_2(step: int, _total: int) -> None:
        if step == 2:
            raise JobCanceled(step)

    context = LocalJobContext(
        PipelineCache(upscalers.settings),
        on_progress=cancel_at_step_2,
        upscalers=upscalers,
        uploads={IMAGE_ID: png(source_image())},
    )
    params = {"image": str(IMAGE_ID), "upscaler": UPSCALER, "scale": 4, "steps": 5}

    with pytest.raises(JobCanceled):
        run_upscale(JobInput(uuid.uuid4(), UPSCALER, params), context)
