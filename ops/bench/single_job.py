"""Benchmark 1: one image at a time, three ways, same model and settings.

  bare      a diffusers script: from_pretrained, then pipeline(...) per image
  executor  genq's generate executor in process (spec, fresh scheduler, PNGs)
  platform  `genq up` (gunicorn web, redis-server, one worker), jobs over HTTP,
            submitted all at once, timed from the first job's creation to the
            last one's end (queue, claim, storage and database included)

Goal: platform >= 0.95 x bare. Run:
  python -m ops.bench.single_job --steps 2                     # CPU, tiny model
  python -m ops.bench.single_job --model DIR --device cuda --size 512 --steps 30
"""

import torch

from ops.bench.harness import (
    PROMPT,
    BenchJobContext,
    Row,
    bf16_peak_fraction,
    flops_per_image,
    parse_args,
    prepare,
    print_report,
    seconds_per_run,
)
from ops.bench.platform import running_platform, span_seconds
from worker.executors.generate import run_generate
from worker.pipelines import PipelineCache


def main() -> None:
    bench = prepare(parse_args(__doc__))
    repeats = bench.args.repeats

    bare = bench.load_bare_pipeline()
    kwargs = bench.call_kwargs(bare)

    def bare_image(seed: int) -> None:
        with torch.inference_mode():
            bare(prompt=PROMPT, generator=torch.Generator("cpu").manual_seed(seed), output_type="pil", **kwargs)

    bare_rate = 1 / seconds_per_run(bare_image, bench.device, repeats)
    flops = flops_per_image(bare, kwargs)
    bare = None  # frees its memory before the executor loads its own

    context = BenchJobContext(PipelineCache(bench.settings))
    executor_rate = 1 / seconds_per_run(
        # The PNGs encoded, as the runner does when it stores them.
        lambda seed: [output.encoded() for output in run_generate(bench.job(seed), context)],
        bench.device,
        repeats,
    )
    context = None  # frees its pipeline before the platform loads its own

    # The platform runs one job at a time (batching off), like the two above.
    with running_platform(
        bench.workdir / "platform", bench.model_dir, device=bench.args.device, dtype=bench.args.dtype, max_batch=1
    ) as platform:
        platform.wait_finished([platform.submit(bench.params(seed=0), bench.model_name)])  # loads the model
        job_ids = [platform.submit(bench.params(seed=seed), bench.model_name) for seed in range(repeats)]
        platform_rate = repeats / span_seconds(platform.wait_finished(job_ids))

    print_report(
        "single job, batch 1",
        bench,
        [
            Row("bare", bare_rate, bf16_peak_fraction(bench, flops, bare_rate)),
            Row("executor", executor_rate),
            Row("platform", platform_rate, "goal >= 0.95"),
        ],
        baseline="bare",
    )
    print(f"FLOPs per image: {flops / 1e9:,.1f} GFLOP (FlopCounterMode)")


if __name__ == "__main__":
    main()
