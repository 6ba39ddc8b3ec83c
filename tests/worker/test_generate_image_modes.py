"""Image-to-image and inpainting in the generate executor, in-process on tiny
models: deterministic, strength-dependent, the init image's pixels kept exactly
outside the (blurred) mask with an ordinary and an inpainting (9-channel) UNet,
and every mode built from the one cached pipeline (no second load)."""

import io
import uuid

import numpy as np
import pytest
from PIL import Image, ImageFilter

from db.settings import Settings
from tests.worker.conftest import TINY_MODEL
from tests.worker.contexts import LocalJobContext
from worker.executors import ArtifactOutput, JobInput
from worker.executors.generate import run_generate
from worker.pipelines import PipelineCache
from worker.tiny_models import build_tiny_sd

SIZE = 64
INIT_ID, MASK_ID = uuid.uuid4(), uuid.uuid4()
SQUARE = (16, 16, 48, 48)  # the repainted part of the mask


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def init_image() -> Image.Image:
    ramp = (np.indices((SIZE, SIZE)).sum(axis=0) * 2 % 256).astype(np.uint8)
    return Image.fromarray(np.stack([ramp, ramp[::-1], 255 - ramp], axis=-1))


def mask_image() -> Image.Image:
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, SQUARE)
    return mask


def pixels(output: ArtifactOutput) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(output.encoded())).convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def mode_pipelines(tmp_path_factory) -> PipelineCache:
    root = tmp_path_factory.mktemp("image-mode-models")
    build_tiny_sd(root / TINY_MODEL)
    build_tiny_sd(root / "tiny-inpainting", inpainting=True)
    return PipelineCache(Settings(_env_file=None, models_dir=root))


def generate(pipelines: PipelineCache, model: str = TINY_MODEL, **params) -> ArtifactOutput:
    params = {"prompt": "a lighthouse", "steps": 8, "seed": 11, "width": SIZE, "height": SIZE, **params}
    context = LocalJobContext(pipelines, uploads={INIT_ID: png(init_image()), MASK_ID: png(mask_image())})
    [output] = run_generate(JobInput(uuid.uuid4(), model, params), context)
    return output


def test_image_to_image_is_deterministic(mode_pipelines):
    first = generate(mode_pipelines, init_image=str(INIT_ID), strength=0.5)
    again = generate(mode_pipelines, init_image=str(INIT_ID), strength=0.5)
    assert first.encoded() == again.encoded()
    assert (first.width, first.height) == (SIZE, SIZE)


def test_a_higher_strength_changes_more_of_the_init_image(mode_pipelines):
    # Random weights decode the init image's latents to other pixels than its own:
    # change is measured from what an almost unchanged run (one step in 20) gives.
    def run(strength: float) -> np.ndarray:
        return pixels(generate(mode_pipelines, init_image=str(INIT_ID), strength=strength, steps=20))

    kept = run(0.05)
    assert np.abs(run(0.3) - kept).mean() < np.abs(run(0.9) - kept).mean()


@pytest.mark.parametrize("model", [TINY_MODEL, "tiny-inpainting"])
def test_inpainting_keeps_the_init_images_pixels_exactly_outside_the_mask(mode_pipelines, model):
    output = generate(mode_pipelines, model=model, init_image=str(INIT_ID), mask_image=str(MASK_ID), mask_blur=4)

    repainted = np.asarray(mask_image().filter(ImageFilter.GaussianBlur(4))) > 0
    difference = np.abs(pixels(output) - np.asarray(init_image(), dtype=np.int16)).max(axis=-1)
    assert (difference[~repainted] == 0).all()
    x0, y0, x1, y1 = SQUARE
    assert difference[y0:y1, x0:x1].mean() > 5


def test_every_mode_runs_on_the_one_loaded_pipeline(tmp_path, monkeypatch):
    build_tiny_sd(tmp_path / TINY_MODEL)
    pipelines = PipelineCache(Settings(_env_file=None, models_dir=tmp_path))
    loads = []
    load = pipelines._load
    monkeypatch.setattr(pipelines, "_load", lambda source: loads.append(source) or load(source))

    generate(pipelines)
    generate(pipelines, init_image=str(INIT_ID))
    generate(pipelines, init_image=str(INIT_ID), mask_image=str(MASK_ID))

    assert len(loads) == 1
