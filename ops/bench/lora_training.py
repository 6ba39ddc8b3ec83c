"""Benchmark: LoRA training steps per second, two ways, same model, data and settings.

  bare      a hand-written peft + diffusers loop (train_dreambooth_lora.py's step:
            VAE latents, DDPM noise, UNet with LoRA, MSE, AdamW, LR schedule,
            clipping), on a pipeline from from_pretrained
  executor  genq's finetune executor in process (spec, UNet copy, loss and progress
            reports, checkpoint plumbing, the adapter file at the end)

Each run is a whole job of --steps steps: copy the UNet, add the LoRA, encode the
prompts and the images' latent distributions once (the frozen encoders do not
change), the loop, save the LoRA weights. So the ratio is what genq's executor
adds. steps/s is steps over the median wall time; the two take turns, so changing
load on the machine hits both alike. Goal: executor >= 0.95 x bare. Run:
  python -m ops.bench.lora_training --steps 50                        # CPU, tiny model
  python -m ops.bench.lora_training --model DIR --device cuda --resolution 512 --steps 100
"""

import argparse
import copy
import io
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, DiffusionPipeline, StableDiffusionPipeline
from diffusers.optimization import get_scheduler
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from PIL import Image

from db.kinds.finetune import FinetuneSpec
from ops.bench.harness import environment, prepare, random_pngs, synchronize
from worker.executors.finetune import run_finetune
from worker.executors.interface import Checkpoint, JobInput, TrainingImage
from worker.pipelines import PipelineCache
from worker.training import LORA_TARGET_MODULES, image_tensor

DATASET_ID = uuid.uuid4()
PROMPT = "a photo of sks pattern"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a diffusers SD pipeline directory; default: the tiny model")
    parser.add_argument("--device", default="auto", help="as GENQ_DEVICE: auto, cpu, cuda, cuda:N")
    parser.add_argument("--dtype", default="auto", help="as GENQ_DTYPE")
    parser.add_argument("--resolution", dest="size", type=int, default=64, help="training resolution")
    parser.add_argument("--steps", type=int, default=50, help="optimisation steps per run")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--images", type=int, default=4, help="dataset size")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (after one warm-up)")
    parser.add_argument("--workdir", type=Path, help="for the tiny model; default: a temp dir")
    return parser.parse_args()


class BenchTrainingContext:
    """The JobContext the finetune executor uses, in process: the dataset from memory;
    reports and checkpoints are dropped, so the executor's own cost is all that is added."""

    def __init__(self, pipelines: PipelineCache, images: list[TrainingImage]) -> None:
        self.pipelines = pipelines
        self.images = images

    def dataset(self, dataset_id: uuid.UUID) -> list[TrainingImage]:
        return self.images

    def report_progress(self, step: int, total: int) -> None:
        pass

    def report_loss(self, step: int, loss: float) -> None:
        pass

    def load_checkpoint(self) -> Checkpoint | None:
        return None

    def save_checkpoint(self, step: int, data: bytes) -> None:
        pass


def bare_training(pipeline: StableDiffusionPipeline, spec: FinetuneSpec, pngs: list[bytes]) -> None:
    """One training run as a diffusers user writes it (the dreambooth LoRA script's
    loop, gradient accumulation 1, no accelerate)."""
    device, dtype = pipeline.unet.device, pipeline.unet.dtype
    # A fresh copy per run, as the executor takes one: repeated runs start alike.
    unet = copy.deepcopy(pipeline.unet)
    unet.requires_grad_(False)
    torch.manual_seed(spec.seed)
    unet.add_adapter(
        LoraConfig(r=spec.rank, lora_alpha=spec.rank, init_lora_weights="gaussian", target_modules=LORA_TARGET_MODULES)
    )
    for parameter in unet.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    trainable = [parameter for parameter in unet.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=spec.learning_rate, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    lr_scheduler = get_scheduler(
        spec.lr_scheduler, optimizer, num_warmup_steps=spec.lr_warmup_steps, num_training_steps=spec.max_train_steps
    )
    noise_scheduler = DDPMScheduler.from_config(pipeline.scheduler.config)
    with torch.no_grad():
        tokens = pipeline.tokenizer(
            [PROMPT] * len(pngs),
            padding="max_length",
            max_length=pipeline.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        embeds = pipeline.text_encoder(tokens.input_ids.to(device), return_dict=False)[0]
        pixels = torch.stack([image_tensor(Image.open(io.BytesIO(png)), spec.resolution) for png in pngs])
        distribution = pipeline.vae.encode(pixels.to(device, dtype)).latent_dist
    generator = torch.Generator(device).manual_seed(spec.seed)
    order = torch.Generator("cpu").manual_seed(spec.seed)
    unet.train()
    for _ in range(spec.max_train_steps):
        batch = torch.randperm(len(pngs), generator=order)[: spec.batch_size].to(device)
        sample = torch.randn(distribution.mean[batch].shape, generator=generator, device=device, dtype=dtype)
        latents = (distribution.mean[batch] + distribution.std[batch] * sample) * pipeline.vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=generator, device=device, dtype=dtype)
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (len(batch),), generator=generator, device=device
        )
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            prediction = unet(noisy, timesteps, embeds[batch], return_dict=False)[0]
        loss = F.mse_loss(prediction.float(), noise.float(), reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, spec.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss.detach().item()  # the script logs every step's loss
    with tempfile.TemporaryDirectory() as directory:
        StableDiffusionPipeline.save_lora_weights(
            directory, unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
        )


def interleaved_seconds(runs: dict[str, Callable[[], object]], device: torch.device, repeats: int) -> dict[str, float]:
    """Median wall seconds of each run, after one untimed warm-up each. The runs take
    turns, so a machine whose load changes meanwhile slows all of them alike."""
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(repeats + 1):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            synchronize(device)
            if repeat:
                timings[name].append(time.perf_counter() - started)
    return {name: statistics.median(seconds) for name, seconds in timings.items()}


def main() -> None:
    bench = prepare(parse_args())
    args = bench.args
    pngs = random_pngs(args.images, args.size)
    params = FinetuneSpec(
        dataset_id=DATASET_ID,
        instance_prompt=PROMPT,
        resolution=args.size,
        max_train_steps=args.steps,
        batch_size=args.batch_size,
        rank=args.rank,
        seed=0,
    ).model_dump(mode="json")

    bare = DiffusionPipeline.from_pretrained(bench.model_dir, dtype=bench.dtype, safety_checker=None)
    bare.to(bench.device)
    spec = FinetuneSpec.model_validate(params)
    images = [TrainingImage(f"{index}.png", png, None) for index, png in enumerate(pngs)]
    context = BenchTrainingContext(PipelineCache(bench.settings), images)
    seconds = interleaved_seconds(
        {
            "bare": lambda: bare_training(bare, spec, pngs),
            "executor": lambda: run_finetune(JobInput(uuid.uuid4(), bench.model_name, params), context),
        },
        bench.device,
        args.repeats,
    )
    bare_rate, executor_rate = args.steps / seconds["bare"], args.steps / seconds["executor"]

    print(f"\n== LoRA training, rank {args.rank}, batch {args.batch_size}, resolution {args.size}")
    print(environment(bench))
    print(f"bare      {bare_rate:9.3f} steps/s")
    print(f"executor  {executor_rate:9.3f} steps/s  x{executor_rate / bare_rate:6.3f} vs bare  goal >= 0.95")


if __name__ == "__main__":
    main()
