"""A LoRA for a tiny model without training one: random weights on the UNet's
attention projections (not a no-op: init_lora_weights=False makes B random too,
where training starts it at zero), saved as diffusers' training scripts save theirs."""

from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig, get_peft_model_state_dict


def save_random_lora(model_dir: Path, directory: Path, seed: int = 0) -> Path:
    """The LoRA's safetensors file, written into `directory`; another seed, another LoRA."""
    unet = StableDiffusionPipeline.from_pretrained(model_dir, safety_checker=None).unet
    torch.manual_seed(seed)
    unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(directory, unet_lora_layers=layers, safe_serialization=True)
    return directory / "pytorch_lora_weights.safetensors"
