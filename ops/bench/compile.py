"""Benchmark 3: torch.compile of the UNet vs eager, batch 1, a bare diffusers pipeline.

Both run with the UNet and VAE in channels_last (what compile is usually paired
with); the compiled run reports its compile time (the first call) apart. Goal:
>= 1.4x at batch 1. Run:
  python -m ops.bench.compile --steps 2                        # CPU, tiny model (needs a C++ compiler)
  python -m ops.bench.compile --steps 2 --backend eager        # CPU, seconds: traces the graph only
  python -m ops.bench.compile --model DIR --device cuda --size 512 --steps 30 [--mode max-autotune]
"""

import argparse
import time

import torch

from ops.bench.harness import PROMPT, Row, parse_args, prepare, print_report, seconds_per_run, synchronize


def compile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", default="reduce-overhead", help="torch.compile's mode")
    parser.add_argument(
        "--backend", default="inductor", help="torch.compile's backend (eager: the graph is traced, not compiled)"
    )


def main() -> None:
    bench = prepare(parse_args(__doc__, add_arguments=compile_arguments))
    backend = bench.args.backend
    mode = None if backend == "eager" else bench.args.mode  # the eager backend takes no mode
    pipeline = bench.load_bare_pipeline()
    pipeline.unet.to(memory_format=torch.channels_last)
    pipeline.vae.to(memory_format=torch.channels_last)
    kwargs = bench.call_kwargs(pipeline)

    def image(seed: int) -> None:
        with torch.inference_mode():
            pipeline(prompt=PROMPT, generator=torch.Generator("cpu").manual_seed(seed), output_type="pil", **kwargs)

    eager = 1 / seconds_per_run(image, bench.device, bench.args.repeats)

    pipeline.unet = torch.compile(pipeline.unet, mode=mode, backend=backend, fullgraph=True)
    started = time.perf_counter()
    image(0)  # compiles for this shape
    synchronize(bench.device)
    compile_seconds = time.perf_counter() - started
    compiled = 1 / seconds_per_run(image, bench.device, bench.args.repeats)

    print_report(
        "torch.compile vs eager, batch 1",
        bench,
        [
            Row("eager", eager),
            Row(f"compiled ({backend}, mode {mode})", compiled, f"goal >= 1.4; compile took {compile_seconds:.1f} s"),
        ],
        baseline="eager",
    )


if __name__ == "__main__":
    main()
