"""Tiny Stable-Diffusion-shaped models with random weights, built offline: a
text-to-image pipeline (or an inpainting one) and the two upscalers diffusers has
(SD's x4 upscaler and the x2 latent upscaler).

No machine here reaches a model hub, so tests and the first run use a pipeline
genq builds itself and saves with save_pretrained; jobs then load it through the
same from_pretrained path as a real checkpoint. It draws a 64x64 image on a CPU
in well under a second. The pixels are noise-like, not art.
"""

import json
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    DDIMScheduler,
    DDPMScheduler,
    EulerDiscreteScheduler,
    StableDiffusionLatentUpscalePipeline,
    StableDiffusionPipeline,
    StableDiffusionUpscalePipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

CLIP_MAX_LENGTH = 77
SD15_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
}


def _byte_level_vocab() -> dict[str, int]:
    """CLIP's byte-to-unicode alphabet, each symbol also as an end-of-word token.

    With no merges the tokenizer spells every word out byte by byte, so any
    prompt tokenizes without a trained vocabulary."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    symbols = [chr(code) for code in codes]
    tokens = symbols + [symbol + "</w>" for symbol in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}


def build_byte_level_tokenizer(directory: Path) -> CLIPTokenizer:
    """A CLIP tokenizer that needs no trained vocabulary (see _byte_level_vocab); its
    vocabulary files are written to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = directory / "vocab.json", directory / "merges.txt"
    vocab_file.write_text(json.dumps(_byte_level_vocab()))
    merges_file.write_text("#version: 0.2\n")
    return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=CLIP_MAX_LENGTH)


def _tiny_text_encoder(tokenizer: CLIPTokenizer) -> CLIPTextModel:
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=CLIP_MAX_LENGTH,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def build_tiny_sd(directory: str | Path, seed: int = 0, *, inpainting: bool = False) -> Path:
    """Write a tiny SD pipeline (UNet, VAE, CLIP text encoder, tokenizer, scheduler).
    inpainting: the UNet takes 9 channels (latents, mask, masked image's latents),
    as SD inpainting checkpoints do."""
    directory = Path(directory)
    torch.manual_seed(seed)
    tokenizer = build_byte_level_tokenizer(directory / "tokenizer")
    text_encoder = _tiny_text_encoder(tokenizer)
    unet = UNet2DConditionModel(
        sample_size=8,  # latents of 8x8 -> 64x64 images with the VAE's factor of 8
        in_channels=9 if inpainting else 4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 16, 16, 16),  # four blocks: the SD scale factor of 8
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
    )
    # SD 1.5's scheduler config, keys for other schedulers included: a job's
    # scheduler is built from_config of it, and DDIM/PNDM read clip_sample,
    # set_alpha_to_one and skip_prk_steps (their defaults are wrong for latents).
    scheduler = EulerDiscreteScheduler.from_config(SD15_SCHEDULER_CONFIG)
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory, safe_serialization=True)
    return directory


def build_tiny_taesd(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny AutoencoderTiny (TAESD's architecture: 4 latent channels, a scale
    factor of 8, as the tiny SD model's VAE), the preview decoder a model directory
    may hold in PREVIEW_DECODER_FOLDER (worker/pipelines.py)."""
    directory = Path(directory)
    torch.manual_seed(seed)
    decoder = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )
    decoder.save_pretrained(directory, safe_serialization=True)
    return directory


# What stable-diffusion-x4-upscaler's VAE scales its latents by (the pipeline insists on it).
X4_UPSCALER_SCALING_FACTOR = 0.08333


def build_tiny_upscaler(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny StableDiffusionUpscalePipeline shaped like SD's x4 upscaler: its
    UNet denoises latents of the input's size, conditioned on the input itself (7
    channels) and its noise level (class embeddings), and a three-block VAE decodes
    them 4 times larger. A 32x32 image becomes 128x128 on a CPU in well under a second."""
    directory = Path(directory)
    torch.manual_seed(seed)
    tokenizer = build_byte_level_tokenizer(directory / "tokenizer")
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=7,  # the latents and the low-resolution image
        out_channels=4,
        block_out_channels=(32, 32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        use_linear_projection=True,
        norm_num_groups=16,
        # One embedding per noise level the pipeline may add to the input (default 20).
        num_class_embeds=100,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 16, 16),  # three blocks: the x4 upscaler's factor of 4
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        scaling_factor=X4_UPSCALER_SCALING_FACTOR,
    )
    pipeline = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=_tiny_text_encoder(tokenizer),
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=99,
    )
    pipeline.save_pretrained(directory, safe_serialization=True)
    return directory


def build_tiny_latent_upscaler(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny StableDiffusionLatentUpscalePipeline shaped like sd-x2-latent-upscaler:
    an SD VAE encodes the image, a k-diffusion UNet (Fourier time embedding, conditioned
    on the text encoder's pooled output and the nearest-upscaled latents: 8 channels in,
    4 + a variance channel out) denoises latents twice the size, and the VAE decodes them."""
    directory = Path(directory)
    torch.manual_seed(seed)
    tokenizer = build_byte_level_tokenizer(directory / "tokenizer")
    text_encoder = _tiny_text_encoder(tokenizer)
    unet = UNet2DConditionModel(
        in_channels=8,
        out_channels=5,
        block_out_channels=(32, 32, 64, 64),
        layers_per_block=1,
        down_block_types=("KDownBlock2D", "KCrossAttnDownBlock2D", "KCrossAttnDownBlock2D", "KCrossAttnDownBlock2D"),
        up_block_types=("KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D", "KCrossAttnUpBlock2D", "KUpBlock2D"),
        mid_block_type=None,
        only_cross_attention=False,
        cross_attention_dim=text_encoder.config.hidden_size,
        attention_head_dim=8,
        act_fn="gelu",
        norm_num_groups=None,
        conv_in_kernel=1,
        conv_out_kernel=1,
        resnet_time_scale_shift="scale_shift",
        time_embedding_type="fourier",
        timestep_post_act="gelu",
        # The pipeline's noise-level embedding (128) and the pooled prompt.
        time_cond_proj_dim=128 + text_encoder.config.hidden_size,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
    )
    pipeline = StableDiffusionLatentUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(prediction_type="sample"),
    )
    pipeline.save_pretrained(directory, safe_serialization=True)
    return directory
