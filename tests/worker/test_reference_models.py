"""The benchmark models (worker/reference_models.py) have the published SD 1.5 and
SDXL architectures: key config values and parameter counts, the latter computed
on the meta device so that no weights are allocated (building them is ~1-7 GB)."""

import pytest
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from worker.reference_models import CLIP_BIG_G_TEXT, CLIP_L_TEXT, SD15_UNET, SD15_VAE, SDXL_UNET, SDXL_VAE


def parameters(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@pytest.mark.parametrize(
    ("config", "published_parameters", "block_out_channels", "cross_attention_dim", "sample_size"),
    [
        (SD15_UNET, 859_520_964, (320, 640, 1280, 1280), 768, 64),
        (SDXL_UNET, 2_567_463_684, (320, 640, 1280), 2048, 128),
    ],
    ids=["sd15", "sdxl"],
)
def test_the_unets_are_the_published_architectures(
    config, published_parameters, block_out_channels, cross_attention_dim, sample_size
):
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(config)

    assert tuple(unet.config.block_out_channels) == block_out_channels
    assert unet.config.cross_attention_dim == cross_attention_dim
    assert unet.config.sample_size == sample_size
    assert parameters(unet) == published_parameters


def test_the_vaes_and_text_encoders_are_the_published_architectures():
    with init_empty_weights():
        sd15_vae, sdxl_vae = AutoencoderKL.from_config(SD15_VAE), AutoencoderKL.from_config(SDXL_VAE)
        clip_l = CLIPTextModel(CLIPTextConfig(**CLIP_L_TEXT))
        clip_big_g = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIG_G_TEXT))

    assert parameters(sd15_vae) == parameters(sdxl_vae) == 83_653_863
    assert (sd15_vae.config.scaling_factor, sdxl_vae.config.scaling_factor) == (0.18215, 0.13025)
    assert parameters(clip_l) == 123_060_480
    assert parameters(clip_big_g) == 694_659_840
    # SDXL conditions on both encoders' hidden states side by side, and on bigG's
    # pooled projection plus six size/crop numbers of 256 each.
    assert CLIP_L_TEXT["hidden_size"] + CLIP_BIG_G_TEXT["hidden_size"] == SDXL_UNET["cross_attention_dim"]
    assert CLIP_BIG_G_TEXT["projection_dim"] + 6 * 256 == SDXL_UNET["projection_class_embeddings_input_dim"]
