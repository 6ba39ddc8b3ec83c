"""Previews decoded by a model's AutoencoderTiny (TAESD): a `taesd` folder in the
model's directory or GENQ_PREVIEW_DECODER; without one, or with one that cannot be
loaded, the linear map (worker/previews.py) and the job goes on."""

import io
import uuid

import numpy as np
import pytest
import torch
from diffusers import AutoencoderTiny
from PIL import Image

from db.settings import Settings
from tests.worker.contexts import LocalJobContext
from worker.executors import JobInput
from worker.executors.generate import run_generate
from worker.pipelines import PREVIEW_DECODER_FOLDER, PipelineCache
from worker.previews import preview_images
from worker.tiny_models import build_tiny_sd, build_tiny_taesd

PARAMS = {"prompt": "a lighthouse at dusk", "steps": 10, "seed": 3}


@pytest.fixture(scope="module")
def decoder_models(tmp_path_factory):
    """`plain` and `with-taesd`: the same tiny model (same weights); the second also
    holds a tiny TAESD. `broken-taesd`: a preview decoder folder that loads nothing;
    `other-latents`: a TAESD of 16 latent channels (an SD3-like space), not the model's 4."""
    root = tmp_path_factory.mktemp("decoder-models")
    for name in ("plain", "with-taesd", "broken-taesd", "other-latents"):
        build_tiny_sd(root / name)
    build_tiny_taesd(root / "with-taesd" / PREVIEW_DECODER_FOLDER)
    AutoencoderTiny(
        encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4, latent_channels=16
    ).save_pretrained(root / "other-latents" / PREVIEW_DECODER_FOLDER)
    (root / "broken-taesd" / PREVIEW_DECODER_FOLDER).mkdir()
    (root / "broken-taesd" / PREVIEW_DECODER_FOLDER / "config.json").write_text("{not json")
    return root


def previews_of(pipelines: PipelineCache, model: str) -> list[np.ndarray]:
    context = LocalJobContext(pipelines)
    run_generate(JobInput(uuid.uuid4(), model, PARAMS), context)
    assert [(index, step, total) for index, step, total, _webp in context.previews] == [(0, 5, 10)]
    return [np.asarray(Image.open(io.BytesIO(webp))) for *_, webp in context.previews]


def test_a_models_taesd_decodes_its_previews_and_the_setting_names_one_for_all(decoder_models):
    pipelines = PipelineCache(Settings(_env_file=None, models_dir=decoder_models))
    [linear] = previews_of(pipelines, "plain")
    [decoded] = previews_of(pipelines, "with-taesd")
    assert decoded.shape == linear.shape == (64, 64, 3)
    assert not np.array_equal(decoded, linear)
    assert pipelines.preview_decoder("plain") is None

    named = Settings(
        _env_file=None, models_dir=decoder_models, preview_decoder=str(decoder_models / "with-taesd" / "taesd")
    )
    [by_setting] = previews_of(PipelineCache(named), "plain")
    assert np.array_equal(by_setting, decoded)


def test_a_preview_decoder_that_cannot_be_loaded_or_decodes_other_latents_leaves_the_linear_map(decoder_models):
    pipelines = PipelineCache(Settings(_env_file=None, models_dir=decoder_models))
    [linear] = previews_of(pipelines, "plain")
    for model in ("broken-taesd", "other-latents"):
        [fallback] = previews_of(pipelines, model)
        assert np.array_equal(fallback, linear), model
        assert pipelines.preview_decoder(model) is None


def test_a_decoded_preview_is_the_decoders_image_of_the_latents(decoder_models):
    decoder = AutoencoderTiny.from_pretrained(decoder_models / "with-taesd" / "taesd")
    latents = torch.randn(2, 4, 8, 12, generator=torch.Generator().manual_seed(1))

    previews = [np.asarray(Image.open(io.BytesIO(webp)).convert("RGB")) for webp in preview_images(latents, 8, decoder)]

    with torch.inference_mode():
        expected = decoder.decode(latents).sample
    expected = ((expected.clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    for preview, image in zip(previews, expected, strict=True):
        assert preview.shape == (64, 96, 3)
        # WebP at quality 80 is lossy: close, not equal.
        assert np.abs(preview.astype(float) - image).mean() < 12
