"""Benchmark 3: torch.compile of the UNet vs eager, batch 1, a bare diffusers pipeline.

Both run with the UNet and VAE in channels_last (what compile is usually paired
with); the compiled run reports its compile time (the first call) apart. Goal:
>= 1.4x at batch 1. Run:
  python -m ops.bench.compile --steps 2                        # CPU, tiny model (needs a C++ compiler)
  python -m ops.bench.compile --model DIR --device cuda --size 512 --steps 30 [--mode max-autotune]
"""

import sys
import time

import torch

from ops.bench.harness import PROMPT, Row, parse_args, prepare, print_report, seconds_per_run, synchronize


def _mode_argument() -> str:
    """--mode of torch.compile (taken out of argv before the shared arguments are parsed)."""
    if "--mode" not in sys.argv:
        return "reduce-overhead"
    at = sys.argv.index("--mode")
    mode = sys.argv[at + 1]
    del sys.argv[at : at + 2]
    return mode


def main() -> None:
    mode = _mode_argument()
    bench = prepare(parse_args(__doc__))
    pipeline = bench.load_bare_pipeline()
    pipeline.unet.to(memory_format=torch.channels_last)
    pipeline.vae.to(memory_format=torch.channels_last)
    kwargs = bench.call_kwargs(pipeline)

    def image(seed: int) -> None:
        with torch.inference_mode():
            pipeline(prompt=PROMPT, generator=torch.Generator("cpu").manual_seed(seed), output_type="pil", **kwargs)

    eager = 1 / seconds_per_run(image, bench.device, bench.args.repeats)

    pipeline.unet = torch.compile(pipeline.unet, mode=mode, fullgraph=True)
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
            Row(f"compiled ({mode})", compiled, f"goal >= 1.4; compile took {compile_seconds:.0f} s"),
        ],
        baseline="eager",
    )


if __name__ == "__main__":
    main()
