"""A tiny CLIP model (text and vision towers) with random weights, built offline.

The scoring twin of worker/tiny_models.py: tests and the first run (`genq up`) get
a `clip` model without a hub, saved with save_pretrained (safetensors) and loaded
by the scorer (worker/clip_models.py) through the same from_pretrained path as a
real checkpoint such as openai/clip-vit-base-patch32. Its tokenizer is the tiny SD
model's byte-level one, so any prompt tokenizes; its scores are noise, not taste.
"""

import tempfile
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

from worker.tiny_models import CLIP_MAX_LENGTH, build_byte_level_tokenizer

IMAGE_SIZE = 32


def build_tiny_clip(directory: str | Path, seed: int = 0) -> Path:
    """Write a two-layer CLIPModel and its processor (byte-level tokenizer, 32x32
    image processor) to `directory`."""
    directory = Path(directory)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as vocabulary:
        # The processor saves the tokenizer whole (tokenizer.json); its source files are not kept.
        tokenizer = build_byte_level_tokenizer(Path(vocabulary))
        config = CLIPConfig(
            text_config={
                "vocab_size": len(tokenizer),
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "max_position_embeddings": CLIP_MAX_LENGTH,
                "bos_token_id": tokenizer.bos_token_id,
                "eos_token_id": tokenizer.eos_token_id,
                "pad_token_id": tokenizer.pad_token_id,
            },
            vision_config={
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "image_size": IMAGE_SIZE,
                "patch_size": 8,
            },
            projection_dim=32,
        )
        CLIPModel(config).save_pretrained(directory, safe_serialization=True)
        image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size=IMAGE_SIZE)
        CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory
