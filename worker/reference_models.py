"""Stable Diffusion 1.5 and SDXL with random weights, built offline, for benchmarks.

The architectures are those of the published checkpoints (the unet, vae and
text_encoder config.json of runwayml/stable-diffusion-v1-5 and
stabilityai/stable-diffusion-xl-base-1.0), so a step costs the FLOPs and memory
of the real model; only the weights and the tokenizer's vocabulary (the byte-level
one of worker/tiny_models.py) differ. Saved with save_pretrained in float16, the
dtype of the hub's fp16 variants, they load through the same from_pretrained path
as a downloaded checkpoint. The images are noise. Never used by jobs in production.
"""

from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    PNDMScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from worker.tiny_models import CLIP_MAX_LENGTH, SD15_SCHEDULER_CONFIG, build_byte_level_tokenizer

SAVED_DTYPE = torch.float16

SD15_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "center_input_sample": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}

SDXL_UNET = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "center_input_sample": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (320, 640, 1280),
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 2048,
    "attention_head_dim": (5, 10, 20),
    "transformer_layers_per_block": (1, 2, 10),
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
}

SD15_VAE = {
    "sample_size": 512,
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
}

SDXL_VAE = {**SD15_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}

# CLIP ViT-L/14's text tower: SD 1.5's text encoder and SDXL's first.
CLIP_L_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": CLIP_MAX_LENGTH,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "projection_dim": 768,
}

# OpenCLIP ViT-bigG/14's text tower with its projection: SDXL's second text encoder.
CLIP_BIG_G_TEXT = {
    **CLIP_L_TEXT,
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "hidden_act": "gelu",
    "projection_dim": 1280,
}

SDXL_SCHEDULER_CONFIG = {
    **SD15_SCHEDULER_CONFIG,
    "timestep_spacing": "leading",
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
}


def build_sd15(directory: Path) -> None:
    """SD 1.5's pipeline: PNDM scheduler, no safety checker (genq loads none)."""
    tokenizer = build_byte_level_tokenizer(directory / "tokenizer")
    pipeline = StableDiffusionPipeline(
        vae=_random(AutoencoderKL, SD15_VAE),
        text_encoder=_text_encoder(CLIPTextModel, CLIP_L_TEXT, tokenizer),
        tokenizer=tokenizer,
        unet=_random(UNet2DConditionModel, SD15_UNET),
        scheduler=PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory, safe_serialization=True)


def build_sdxl(directory: Path) -> None:
    """SDXL base's pipeline: two text encoders, Euler scheduler, no watermarker."""
    tokenizer = build_byte_level_tokenizer(directory / "tokenizer")
    tokenizer_2 = build_byte_level_tokenizer(directory / "tokenizer_2")
    pipeline = StableDiffusionXLPipeline(
        vae=_random(AutoencoderKL, SDXL_VAE),
        text_encoder=_text_encoder(CLIPTextModel, CLIP_L_TEXT, tokenizer),
        text_encoder_2=_text_encoder(CLIPTextModelWithProjection, CLIP_BIG_G_TEXT, tokenizer_2),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=_random(UNet2DConditionModel, SDXL_UNET),
        scheduler=EulerDiscreteScheduler.from_config(SDXL_SCHEDULER_CONFIG),
        add_watermarker=False,
    )
    pipeline.save_pretrained(directory, safe_serialization=True)


REFERENCE_MODELS: dict[str, Callable[[Path], None]] = {"sd15": build_sd15, "sdxl": build_sdxl}


def build_reference(name: str, directory: str | Path, seed: int = 0, device: str = "cpu") -> Path:
    """Write reference model `name` (a key of REFERENCE_MODELS) to `directory`; its
    weights are initialised on `device` (on a GPU in seconds, where a CPU takes minutes)."""
    directory = Path(directory)
    torch.manual_seed(seed)
    with torch.device(device):
        REFERENCE_MODELS[name](directory)
    return directory


def _random(model_class, config: dict):
    """One component with freshly initialised weights, in the saved dtype (built
    one at a time in float32, so SDXL's UNet never sits in memory twice)."""
    return model_class.from_config(config).to(SAVED_DTYPE)


def _text_encoder(model_class, config: dict, tokenizer: CLIPTokenizer):
    # The special tokens' ids are the byte-level vocabulary's: the pooled output
    # is read at the end-of-text token.
    text_config = CLIPTextConfig(
        **config,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model_class(text_config).to(SAVED_DTYPE)
