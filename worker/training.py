"""LoRA training of a Stable Diffusion UNet, step by step, with the semantics of
diffusers' train_dreambooth_lora.py: peft LoRA on the attention projections, frozen
VAE and text encoder, DDPM noise, MSE on epsilon or v, AdamW, a diffusers LR
schedule, gradient accumulation and clipping, autocast on CUDA. Seeded: one spec
gives one loss series, also across a save_state/load_state resume.

Never mutates the pipeline it is given (the worker's cache shares it with generate
jobs): the UNet is deep-copied before LoRA layers go in. Knows nothing of jobs,
the database or storage; worker/executors/finetune.py drives and reports it.
"""

import copy
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.optimization import get_scheduler
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from PIL import Image
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from db.kinds.finetune import FinetuneSpec

LORA_TARGET_MODULES = ["to_k", "to_q", "to_v", "to_out.0"]
CHECKPOINT_FORMAT = "genq-lora-checkpoint-1"
LORA_WEIGHTS_FILE = "pytorch_lora_weights.safetensors"


@dataclass(frozen=True)
class TrainingExample:
    image: Image.Image
    prompt: str


def image_tensor(image: Image.Image, resolution: int) -> torch.Tensor:
    """3 x resolution x resolution in [-1, 1]: the shorter side resized to
    `resolution` (bilinear), then center-cropped, as the script's transforms do."""
    image = image.convert("RGB")
    scale = resolution / min(image.size)
    width, height = max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    left, top = (width - resolution) // 2, (height - resolution) // 2
    image = image.crop((left, top, left + resolution, top + resolution))
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return pixels.view(resolution, resolution, 3).permute(2, 0, 1).float() / 127.5 - 1.0


def lora_unet(pipeline: StableDiffusionPipeline, spec: FinetuneSpec) -> UNet2DConditionModel:
    """A copy of the pipeline's UNet (frozen, in the pipeline's dtype) with trainable
    float32 LoRA layers; the copy costs one UNet of accelerator memory per training job."""
    unet = copy.deepcopy(pipeline.unet)
    unet.requires_grad_(False)
    config = LoraConfig(
        r=spec.rank,
        lora_alpha=spec.lora_alpha or spec.rank,
        init_lora_weights="gaussian",
        target_modules=LORA_TARGET_MODULES,
    )
    # The initial LoRA weights come from the global generator: seeded here, as the
    # script's set_seed does, without disturbing the generator for anything else.
    cuda_devices = [unet.device.index or 0] if unet.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(spec.seed)
        unet.add_adapter(config)
    # Mixed precision trains the LoRA weights in float32, as the script's cast_training_params does.
    for parameter in unet.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    return unet


class LoraTrainer:
    """One LoRA training run; `step` is the number of optimisation steps taken."""

    def __init__(self, pipeline: StableDiffusionPipeline, spec: FinetuneSpec, examples: list[TrainingExample]) -> None:
        self.spec = spec
        self.device = pipeline.unet.device
        self.weight_dtype = pipeline.unet.dtype
        self.noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
        self.unet = lora_unet(pipeline, spec)
        # Once, not per step: train() walks every module of the UNet.
        self.unet.train()
        self.trainable = {name: p for name, p in self.unet.named_parameters() if p.requires_grad}
        self.optimizer = torch.optim.AdamW(
            self.trainable.values(), lr=spec.learning_rate, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8
        )
        self.lr_scheduler = get_scheduler(
            spec.lr_scheduler,
            optimizer=self.optimizer,
            num_warmup_steps=spec.lr_warmup_steps,
            num_training_steps=spec.max_train_steps,
        )
        # The frozen encoders' outputs do not change during training, so they are
        # computed once (the script's --pre_compute_text_embeddings / cache_latents);
        # latents are still sampled anew from the VAE's distribution every step.
        with torch.no_grad():
            self.prompt_embeds = self._encode_prompts(pipeline, [example.prompt for example in examples])
            self.latent_mean, self.latent_std = self._encode_images(pipeline, examples)
        self.scaling_factor = pipeline.vae.config.scaling_factor
        self.generator = torch.Generator(self.device).manual_seed(spec.seed)
        # The order images are drawn in: a shuffled epoch at a time, as a DataLoader does.
        self.order_generator = torch.Generator("cpu").manual_seed(spec.seed)
        self.epoch_remaining: list[int] = []
        self.step = 0

    def _encode_prompts(self, pipeline: StableDiffusionPipeline, prompts: list[str]) -> torch.Tensor:
        tokens = pipeline.tokenizer(
            prompts,
            padding="max_length",
            max_length=pipeline.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        embeddings: torch.Tensor = pipeline.text_encoder(tokens.input_ids.to(self.device), return_dict=False)[0]
        return embeddings

    def _encode_images(
        self, pipeline: StableDiffusionPipeline, examples: list[TrainingExample]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        means, stds = [], []
        # In batches of batch_size: the whole dataset at once could exhaust memory.
        for start in range(0, len(examples), self.spec.batch_size):
            chunk = examples[start : start + self.spec.batch_size]
            pixels = torch.stack([image_tensor(example.image, self.spec.resolution) for example in chunk])
            distribution = pipeline.vae.encode(pixels.to(self.device, self.weight_dtype)).latent_dist
            means.append(distribution.mean)
            stds.append(distribution.std)
        return torch.cat(means), torch.cat(stds)

    def _next_batch(self) -> torch.Tensor:
        if not self.epoch_remaining:
            self.epoch_remaining = torch.randperm(len(self.latent_mean), generator=self.order_generator).tolist()
        batch = self.epoch_remaining[: self.spec.batch_size]
        del self.epoch_remaining[: self.spec.batch_size]
        return torch.tensor(batch, device=self.device)

    def _batch_loss(self, batch: torch.Tensor) -> torch.Tensor:
        mean, std = self.latent_mean[batch], self.latent_std[batch]
        sample = torch.randn(mean.shape, generator=self.generator, device=self.device, dtype=mean.dtype)
        latents = (mean + std * sample) * self.scaling_factor
        noise = torch.randn(latents.shape, generator=self.generator, device=self.device, dtype=latents.dtype)
        timesteps = torch.randint(
            0,
            self.noise_scheduler.config.num_train_timesteps,
            (len(batch),),
            generator=self.generator,
            device=self.device,
        )
        noisy_latents = self.noise_scheduler.add_noise(latents, noise, timesteps)
        prediction_type = self.noise_scheduler.config.prediction_type
        if prediction_type == "epsilon":
            target = noise
        elif prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            raise ValueError(f"cannot train a model that predicts {prediction_type!r}")
        with torch.autocast(self.device.type, dtype=self.weight_dtype, enabled=self.weight_dtype != torch.float32):
            prediction = self.unet(noisy_latents, timesteps, self.prompt_embeds[batch], return_dict=False)[0]
        return F.mse_loss(prediction.float(), target.float(), reduction="mean")

    def train_step(self) -> torch.Tensor:
        """One optimisation step (gradient_accumulation_steps batches); returns its
        mean loss as a 0-dim tensor on the device, so the caller chooses when to sync."""
        accumulation = self.spec.gradient_accumulation_steps
        step_loss = torch.zeros((), device=self.device)
        for _ in range(accumulation):
            loss = self._batch_loss(self._next_batch())
            (loss / accumulation).backward()
            step_loss += loss.detach() / accumulation
        torch.nn.utils.clip_grad_norm_(self.trainable.values(), self.spec.max_grad_norm)
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return step_loss

    def lora_weights(self) -> bytes:
        """The trained LoRA as the .safetensors file pipeline.load_lora_weights reads
        (diffusers key names, the LoraConfig in the file's metadata for lora_alpha)."""
        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(self.unet))
        with tempfile.TemporaryDirectory() as directory:
            StableDiffusionPipeline.save_lora_weights(
                directory,
                unet_lora_layers=layers,
                unet_lora_adapter_metadata=self.unet.peft_config["default"].to_dict(),
                safe_serialization=True,
            )
            return (Path(directory) / LORA_WEIGHTS_FILE).read_bytes()

    def save_state(self) -> bytes:
        """Everything a resumed run needs to take the same next step: LoRA weights,
        optimizer and LR-schedule state, the step, the random generators and the
        epoch's remaining order. Tensors as safetensors, the rest as JSON in its
        metadata: nothing in it is unpickled when it is read back."""
        tensors = {f"lora.{name}": parameter.detach() for name, parameter in self.trainable.items()}
        optimizer = self.optimizer.state_dict()
        optimizer_scalars: dict[str, dict[str, Any]] = {}
        for index, state in optimizer["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer.{index}.{key}"] = value
                else:
                    optimizer_scalars.setdefault(str(index), {})[key] = value
        tensors["generator"] = self.generator.get_state()
        tensors["order_generator"] = self.order_generator.get_state()
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "epoch_remaining": self.epoch_remaining,
            "optimizer_param_groups": optimizer["param_groups"],
            "optimizer_scalars": optimizer_scalars,
            "lr_scheduler": self.lr_scheduler.state_dict(),
        }
        tensors = {name: tensor.contiguous().cpu() for name, tensor in tensors.items()}
        return save_tensors(tensors, metadata={"genq": json.dumps(state)})

    def load_state(self, data: bytes) -> None:
        state = json.loads(safetensors_metadata(data)["genq"])
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a genq LoRA checkpoint")
        tensors = load_tensors(data)
        with torch.no_grad():
            for name, parameter in self.trainable.items():
                parameter.copy_(tensors[f"lora.{name}"])
        optimizer_state: dict[int, dict[str, Any]] = {}
        for key, tensor in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                optimizer_state.setdefault(int(index), {})[name] = tensor
        for index, scalars in state["optimizer_scalars"].items():
            optimizer_state.setdefault(int(index), {}).update(scalars)
        self.optimizer.load_state_dict({"state": optimizer_state, "param_groups": state["optimizer_param_groups"]})
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.generator.set_state(tensors["generator"])
        self.order_generator.set_state(tensors["order_generator"])
        self.epoch_remaining = state["epoch_remaining"]
        self.step = state["step"]


def safetensors_metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of a safetensors file in memory: its header is an 8-byte
    little-endian length followed by that many bytes of JSON."""
    header_length = int.from_bytes(data[:8], "little")
    metadata: dict[str, str] = json.loads(data[8 : 8 + header_length]).get("__metadata__", {})
    return metadata


def open_image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")
