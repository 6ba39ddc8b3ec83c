"""Preview images of a generate job while it denoises, made from the latents by a
fixed linear map to RGB instead of the VAE: about a microsecond per latent pixel on
the CPU, so a preview costs the GPU nothing but the copy of its latents. The map
is the least-squares fit of SD 1.x latents to their decoded colours that AUTOMATIC1111
and ComfyUI also use for their cheap previews; on other latent spaces (SDXL, random
tiny models) the colours are off but the shapes are right, which is what a preview
is for. Where the model has a preview decoder (an AutoencoderTiny, TAESD:
worker/pipelines.py), it decodes them instead, on their device: true colours and
detail for a few milliseconds of the GPU. A preview is the output's size, at most
MAX_SIDE on its long side, in WebP (a few kilobytes: it goes through Redis to every
stream of the job)."""

import io

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderTiny
from PIL import Image

# RGB of each of the 4 latent channels.
LATENT_RGB = np.array(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ],
    dtype=np.float32,
)
MAX_SIDE = 256
WEBP_QUALITY = 80


def preview_images(latents: torch.Tensor, scale_factor: int, decoder: AutoencoderTiny | None = None) -> list[bytes]:
    """One WebP per row of a (batch, channels, height, width) latent batch whose
    images are scale_factor times its size; decoded by `decoder` when given."""
    if decoder is not None:
        # Decoded at about the preview's size, not the image's: eight 1024 px images
        # decoded in full would take the GPU memory of the denoising beside them.
        shrink = MAX_SIDE / (max(latents.shape[2:]) * scale_factor)
        small = F.interpolate(latents, scale_factor=shrink, mode="bilinear") if shrink < 1 else latents
        with torch.inference_mode():
            decoded = decoder.decode(small.to(decoder.device, decoder.dtype)).sample
        rgb = decoded.float().permute(0, 2, 3, 1).cpu().numpy()
    else:
        rgb = _linear_rgb(latents)
    pixels = np.round((np.clip(rgb, -1, 1) + 1) * 127.5).astype(np.uint8)
    height, width = latents.shape[2] * scale_factor, latents.shape[3] * scale_factor
    shrink = min(1.0, MAX_SIDE / max(height, width))
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    previews = []
    for row in pixels:
        buffer = io.BytesIO()
        Image.fromarray(row, "RGB").resize(size, Image.Resampling.BILINEAR).save(
            buffer, format="WEBP", quality=WEBP_QUALITY
        )
        previews.append(buffer.getvalue())
    return previews


def _linear_rgb(latents: torch.Tensor) -> np.ndarray:
    """(batch, height, width, RGB) in about -1..1, at the latents' size."""
    # numpy, not torch: on a thread beside a GPU's denoising loop, torch's CPU ops
    # would start a thread pool of their own.
    rows = latents.detach().float().cpu().numpy()
    channels = rows.shape[1]
    if channels == LATENT_RGB.shape[0]:
        mapped: np.ndarray = np.einsum("bchw,cr->bhwr", rows, LATENT_RGB)
        return mapped
    # Not an SD-shaped latent space: its first three channels, as they are.
    first = rows[:, :3] if channels >= 3 else np.repeat(rows[:, :1], 3, axis=1)
    return first.transpose(0, 2, 3, 1)
