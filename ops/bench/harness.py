"""What every benchmark in ops/bench shares: the command line (which model, device,
size, steps), the model (the tiny offline one unless --model names a diffusers
directory, e.g. one written by `genq models build-reference sd15 DIR`), a
generate executor's JobContext, timing that waits for the GPU, and the report:
images per second and ratios, all measured in the same run on the same machine.
"""

import argparse
import io
import os
import platform as host
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import diffusers
import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import logging as diffusers_logging
from PIL import Image

from db.kinds.generate import GenerateSpec
from db.settings import Settings
from worker.executors.interface import JobInput
from worker.model_cache import resolve_device, resolve_dtype
from worker.pipelines import PipelineCache
from worker.tiny_models import build_tiny_sd

PROMPT = "a lighthouse on a cliff at dawn, oil painting"
# Dense bf16 tensor-core peaks (no sparsity) from the vendors' data sheets, in TFLOP/s.
BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0}


def parse_args(
    description: str,
    *,
    default_steps: int = 30,
    add_arguments: Callable[[argparse.ArgumentParser], object] | None = None,
) -> argparse.Namespace:
    """The arguments every benchmark takes, and a benchmark's own (add_arguments)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a diffusers pipeline directory; default: the tiny model")
    parser.add_argument("--device", default="auto", help="as GENQ_DEVICE: auto, cpu, cuda, cuda:N")
    parser.add_argument("--dtype", default="auto", help="as GENQ_DTYPE")
    parser.add_argument("--size", type=int, help="width and height; default: the model's native size")
    parser.add_argument("--steps", type=int, default=default_steps)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (after one warm-up)")
    parser.add_argument("--workdir", type=Path, help="for the tiny model and the platform's files; default: a temp dir")
    if add_arguments is not None:
        add_arguments(parser)
    return parser.parse_args()


@dataclass
class Bench:
    """The model under test, where it loads, and how jobs on it are shaped."""

    args: argparse.Namespace
    workdir: Path
    model_dir: Path

    @property
    def model_name(self) -> str:
        return self.model_dir.name

    @property
    def settings(self) -> Settings:
        """genq's settings for this run: the model's directory as the models dir."""
        return Settings(models_dir=self.model_dir.parent, device=self.args.device, dtype=self.args.dtype)

    @property
    def device(self) -> torch.device:
        return resolve_device(self.args.device)

    @property
    def dtype(self) -> torch.dtype:
        return resolve_dtype(self.args.dtype, self.device)

    def params(self, seed: int, **overrides) -> dict:
        """A generate job's params as submit stores them."""
        size = self.args.size
        spec = GenerateSpec(prompt=PROMPT, seed=seed, steps=self.args.steps, width=size, height=size, **overrides)
        return spec.model_dump(mode="json")

    def call_kwargs(self, pipeline: DiffusionPipeline) -> dict:
        """What a hand-written diffusers script passes for the same images."""
        native = pipeline.unet.config.sample_size * pipeline.vae_scale_factor
        size = self.args.size or native
        return {"width": size, "height": size, "num_inference_steps": self.args.steps, "guidance_scale": 7.5}

    def load_bare_pipeline(self) -> DiffusionPipeline:
        """The model as a diffusers user loads it: from_pretrained, to the device, same dtype as genq."""
        pipeline = DiffusionPipeline.from_pretrained(self.model_dir, dtype=self.dtype, safety_checker=None)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline.to(self.device)

    def job(self, seed: int, **overrides) -> JobInput:
        return JobInput(id=uuid.uuid4(), model=self.model_name, params=self.params(seed, **overrides))


def prepare(args: argparse.Namespace) -> Bench:
    diffusers_logging.disable_progress_bar()  # loading bars would bury the report
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="genq-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    model_dir = args.model
    if model_dir is None:
        model_dir = workdir / "models" / "tiny-sd"
        if not (model_dir / "model_index.json").exists():
            build_tiny_sd(model_dir)
    return Bench(args, workdir, model_dir.resolve())


class BenchJobContext:
    """The JobContext the generate executor uses (pipelines, progress), in process:
    progress is dropped, so the executor's own cost is all that is added."""

    def __init__(self, pipelines: PipelineCache) -> None:
        self.pipelines = pipelines
        self.scores_every_image = False

    def report_progress(self, step: int, total: int) -> None:
        pass

    def report_preview(self, index: int, step: int, total: int, webp: bytes) -> None:
        pass  # made (what it costs the executor is measured), not sent


def random_pngs(count: int, size: int, seed: int = 0) -> list[bytes]:
    """Noise images: their content changes neither a training step's nor a score's cost."""
    rng = np.random.default_rng(seed)
    pngs = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    return pngs


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_run(run: Callable[[int], object], device: torch.device, repeats: int) -> float:
    """Median wall seconds of run(i), i = 0 .. repeats-1, after an untimed warm-up run(repeats)."""
    run(repeats)
    synchronize(device)
    timings = []
    for index in range(repeats):
        started = time.perf_counter()
        run(index)
        synchronize(device)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


@dataclass(frozen=True)
class Row:
    name: str
    images_per_second: float
    note: str = ""


def print_report(title: str, bench: Bench, rows: list[Row], baseline: str) -> None:
    """Images per second of each row and its ratio to the baseline row, with the setup."""
    base = next(row for row in rows if row.name == baseline).images_per_second
    print(f"\n== {title}")
    print(environment(bench))
    width = max(len(row.name) for row in rows)
    for row in rows:
        ratio = row.images_per_second / base
        print(f"{row.name:<{width}}  {row.images_per_second:9.3f} images/s  x{ratio:6.3f} vs {baseline}  {row.note}")


def environment(bench: Bench) -> str:
    device = bench.device
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{host.processor() or host.machine()}, {os.cpu_count()} CPU cores"
    args = bench.args
    return (
        f"device: {device} ({name}); dtype {bench.dtype}; torch {torch.__version__}; diffusers {diffusers.__version__}\n"
        f"model: {bench.model_dir} ; size {args.size or 'native'} ; steps {args.steps} ; "
        f"repeats {args.repeats} ; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


def flops_per_image(pipeline: DiffusionPipeline, kwargs: dict) -> float:
    """FLOPs of one image (text encoder, every UNet evaluation, VAE decode), counted
    by torch's FlopCounterMode on one call."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        pipeline(prompt=PROMPT, generator=torch.Generator("cpu").manual_seed(0), output_type="pil", **kwargs)
    return float(counter.get_total_flops())


def bf16_peak_fraction(bench: Bench, flops: float, images_per_second: float) -> str:
    if bench.device.type != "cuda":
        return "peak fraction: n/a (not a GPU)"
    name = torch.cuda.get_device_name(bench.device)
    peak = next((tflops for model, tflops in BF16_PEAK_TFLOPS.items() if model in name), None)
    achieved = flops * images_per_second / 1e12
    if peak is None:
        return f"achieved {achieved:.1f} TFLOP/s (no bf16 peak on record for {name})"
    return f"achieved {achieved:.1f} TFLOP/s = {achieved / peak:.1%} of the {peak:.0f} TFLOP/s bf16 peak of {name}"
