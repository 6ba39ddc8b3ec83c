"""Every benchmark of ops/bench on the reference models, in one command that fits
one device lease (ops/bench/gpu_suite.sh runs it there; docs/performance.md has
the figures):

  build sd15     SD 1.5's architecture with random weights, initialised on the GPU
  single_job     benchmark 1: bare diffusers vs executor vs platform, 512x512, 30 steps
  batching       benchmark 2: 1, 4, 8, 16 jobs at once, and each job's latency
  lora_training  LoRA steps/s at 512, genq's executor vs a bare peft loop
  compile        benchmark 3: torch.compile of the UNet (genq's mode, then CUDA graphs)
  sdxl           SDXL 1024x1024 at batch 1 and 4, when time is left

Each step runs in a process of its own, under what is left of --budget seconds,
and its output goes to OUT/suite.log as it comes; OUT/summary.json says how each
step ended. A step that fails or runs out of time does not stop the next ones.
--smoke runs the same steps on the CPU with the tiny model, a few steps each, so
that the suite cannot rot between leases (tests/ops/test_gpu_suite.py):
  python -m ops.bench.gpu_suite --smoke --out var/bench/smoke
  python -m ops.bench.gpu_suite --out $OUT --budget 480          # on the device
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Step:
    name: str
    command: list[str]
    # Seconds the step may take at most; it is skipped when less than min_seconds are left.
    cap_seconds: float
    min_seconds: float = 30.0
    # The step that builds the model this one measures: skipped unless that one succeeded.
    needs: str | None = None


@dataclass
class Suite:
    out: Path
    budget_seconds: float
    started: float = field(default_factory=time.monotonic)
    summary: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = open(self.out / "suite.log", "a", buffering=1)  # noqa: SIM115 (open for the suite's life)

    @property
    def seconds_left(self) -> float:
        return self.budget_seconds - (time.monotonic() - self.started)

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.log.write(line + "\n")

    def run(self, step: Step) -> bool:
        """Runs one step, its output teed to the log as it comes; records how it ended."""
        left = self.seconds_left
        if left < step.min_seconds:
            self.say(f"\n### {step.name}: skipped, {left:.0f} s of the budget left")
            self.record(step, "skipped", 0.0)
            return False
        timeout = min(step.cap_seconds, left)
        self.say(f"\n### {step.name} (at most {timeout:.0f} s): {' '.join(step.command)}")
        started = time.monotonic()
        process = subprocess.Popen(
            step.command,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # its platform's processes go with it on a timeout
        )
        assert process.stdout is not None
        reader = threading.Thread(target=self._tee, args=(process.stdout,), daemon=True)
        reader.start()
        try:
            returncode = process.wait(timeout=timeout)
            status = "ok" if returncode == 0 else f"failed (exit {returncode})"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            status = "timed out"
        reader.join(timeout=10)
        seconds = time.monotonic() - started
        self.say(f"### {step.name}: {status} after {seconds:.0f} s")
        self.record(step, status, seconds)
        return status == "ok"

    def _tee(self, stream: TextIO) -> None:
        for line in stream:
            self.say(line.rstrip("\n"))

    def record(self, step: Step, status: str, seconds: float) -> None:
        self.summary[step.name] = {"status": status, "seconds": round(seconds, 1)}
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=2) + "\n")


def bench(module: str, *arguments: str) -> list[str]:
    return [sys.executable, "-m", f"ops.bench.{module}", *arguments]


def gpu_steps(models: Path, workdir: Path) -> list[Step]:
    sd15, sdxl = models / "sd15", models / "sdxl"
    common = ["--device", "cuda", "--workdir", str(workdir)]
    sd15_512 = ["--model", str(sd15), "--size", "512", "--steps", "30", *common]
    lora = ["--model", str(sd15), "--resolution", "512", "--steps", "50", "--repeats", "2", *common]
    on_sd15 = {"needs": "build sd15"}
    return [
        Step("build sd15", build(sd15, "sd15"), cap_seconds=150),
        Step("single_job", bench("single_job", *sd15_512, "--repeats", "5"), 150, 60, **on_sd15),
        Step("batching", bench("batching", *sd15_512, "--repeats", "2"), 240, 90, **on_sd15),
        Step("previews", bench("previews", *sd15_512, "--repeats", "3"), 90, 45, **on_sd15),
        Step("lora_training", bench("lora_training", *lora), 120, 60, **on_sd15),
        # genq's own compile (GENQ_COMPILE_UNET: the module's compile(), default mode), then CUDA graphs.
        Step("compile", bench("compile", *sd15_512, "--repeats", "3", "--mode", "default"), 180, 90, **on_sd15),
        Step(
            "compile cuda graphs",
            bench("compile", *sd15_512, "--repeats", "3", "--mode", "reduce-overhead"),
            150,
            90,
            **on_sd15,
        ),
        Step("build sdxl", build(sdxl, "sdxl"), cap_seconds=120, min_seconds=120),
        Step(
            "sdxl",
            bench("batching", "--model", str(sdxl), "--size", "1024", "--steps", "30", "--batches", "1,4")
            + ["--ways", "bare", "--repeats", "1", *common],
            120,
            60,
            needs="build sdxl",
        ),
    ]


def smoke_steps(workdir: Path) -> list[Step]:
    """The same benchmarks on the CPU with the tiny model (built once in workdir)."""
    common = ["--device", "cpu", "--steps", "2", "--repeats", "1", "--workdir", str(workdir)]
    return [
        Step("single_job", bench("single_job", *common), cap_seconds=300),
        Step("batching", bench("batching", *common, "--batches", "1,2"), cap_seconds=300),
        Step("previews", bench("previews", *common), cap_seconds=300),
        Step(
            "lora_training",
            bench("lora_training", "--device", "cpu", "--steps", "3", "--repeats", "1", "--images", "2")
            + ["--workdir", str(workdir)],
            cap_seconds=300,
        ),
        Step("compile", bench("compile", *common, "--backend", "eager"), cap_seconds=300),
    ]


def build(directory: Path, name: str) -> list[str]:
    return [sys.executable, "-m", "cli", "models", "build-reference", name, str(directory), "--device", "cuda"]


def environment_lines() -> list[str]:
    import diffusers
    import torch
    import transformers

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device"
    return [
        f"device: {device}; torch {torch.__version__} (CUDA {torch.version.cuda}); diffusers {diffusers.__version__};"
        f" transformers {transformers.__version__}; Python {sys.version.split()[0]}",
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "bench" / "gpu-suite")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole suite")
    parser.add_argument("--models", type=Path, default=Path("/tmp/genq-models"), help="where reference models go")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="the benchmarks' platforms and images; default: OUT/work (keep it out of $OUT there)",
    )
    parser.add_argument("--smoke", action="store_true", help="the tiny model on the CPU, a few steps each")
    args = parser.parse_args()
    suite = Suite(args.out, args.budget)
    for line in environment_lines():
        suite.say(line)
    workdir = args.workdir or args.out / "work"
    steps = smoke_steps(workdir) if args.smoke else gpu_steps(args.models, workdir)
    for step in steps:
        if step.needs and suite.summary.get(step.needs, {}).get("status") != "ok":
            suite.say(f"\n### {step.name}: skipped, {step.needs} did not succeed")
            suite.record(step, "skipped", 0.0)
        else:
            suite.run(step)
    failed = [name for name, result in suite.summary.items() if result["status"] != "ok"]
    suite.say(f"\n### suite done in {time.monotonic() - suite.started:.0f} s; not ok: {', '.join(failed) or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
