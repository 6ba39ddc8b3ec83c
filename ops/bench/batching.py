"""Benchmark 2: images per second with N compatible jobs at once, batched vs one at a time.

  bare       one pipeline call for N images (one generator per image, seeds
             s..s+N-1) vs calls of one image: the ceiling batching can reach
  executor   worker.executors.generate.run_generate_batch(jobs, contexts), the
             batched executor (cross-job batching, docs/performance.md)
  platform   N jobs submitted at once over HTTP to `genq up` with GENQ_MAX_BATCH=N
             vs GENQ_MAX_BATCH=1, timed from the first job's creation to the last
             one's end; and the latency each job pays (creation to end, median
             and slowest of the N)

Goal: >= 3x at N=16 on SD 1.5, 512x512, 30 steps. Run:
  python -m ops.bench.batching --steps 2 --batches 1,4                  # CPU, tiny model
  python -m ops.bench.batching --model DIR --device cuda --size 512 --steps 30
  python -m ops.bench.batching --model DIR --device cuda --size 1024 --batches 1,4 --ways bare   # SDXL
"""

import argparse
import statistics
from concurrent.futures import ThreadPoolExecutor

import torch

from ops.bench.harness import (
    PROMPT,
    Bench,
    BenchJobContext,
    Row,
    bf16_peak_fraction,
    flops_per_image,
    parse_args,
    prepare,
    print_report,
    seconds_per_run,
)
from ops.bench.platform import running_platform, span_seconds, timestamp
from worker.executors.generate import run_generate_batch
from worker.pipelines import PipelineCache

WAYS = ("bare", "executor", "platform")


def batching_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batches", default="1,4,8,16", help="numbers of jobs at once (1 is always measured)")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"which of {', '.join(WAYS)} to measure")


def main() -> None:
    bench = prepare(parse_args(__doc__, add_arguments=batching_arguments))
    batches = sorted({int(size) for size in bench.args.batches.split(",")} | {1})
    ways = bench.args.ways.split(",")
    measure = {"bare": bare_rows, "executor": executor_rows, "platform": platform_rows}
    rows = [row for way in WAYS if way in ways for row in measure[way](bench, batches)]
    print_report("cross-job batching", bench, rows, baseline=rows[0].name)


def bare_rows(bench: Bench, batches: list[int]) -> list[Row]:
    pipeline = bench.load_bare_pipeline()
    kwargs = bench.call_kwargs(pipeline)
    flops = flops_per_image(pipeline, kwargs)
    rows = []
    for size in batches:

        def batch_call(seed: int, size: int = size) -> None:
            generators = [torch.Generator("cpu").manual_seed(seed * size + index) for index in range(size)]
            with torch.inference_mode():
                pipeline(prompt=[PROMPT] * size, generator=generators, output_type="pil", **kwargs)

        rate = size / seconds_per_run(batch_call, bench.device, bench.args.repeats)
        rows.append(Row(f"bare batch {size}", rate, bf16_peak_fraction(bench, flops, rate)))
    pipeline = None  # frees its memory before the platform loads its own
    return rows


def executor_rows(bench: Bench, batches: list[int]) -> list[Row]:
    pipelines = PipelineCache(bench.settings)
    rows = []
    for size in batches:

        def batch_run(seed: int, size: int = size) -> None:
            jobs = [bench.job(seed * size + index) for index in range(size)]
            for result in run_generate_batch(jobs, [BenchJobContext(pipelines) for _ in jobs]):
                if isinstance(result, BaseException):
                    raise result
                for output in result:  # the PNGs encoded, as the runner does when it stores them
                    output.encoded()

        rows.append(Row(f"executor batch {size}", size / seconds_per_run(batch_run, bench.device, bench.args.repeats)))
    return rows


def platform_rows(bench: Bench, batches: list[int]) -> list[Row]:
    """N jobs at once with batching off, then on (max_batch = the largest N)."""
    rates: dict[tuple[int, int], float] = {}
    latencies: dict[tuple[int, int], list[float]] = {}
    for max_batch in (1, max(batches)):
        with running_platform(
            bench.workdir / f"platform-max-batch-{max_batch}",
            bench.model_dir,
            device=bench.args.device,
            dtype=bench.args.dtype,
            max_batch=max_batch,
        ) as platform:
            platform.wait_finished([platform.submit(bench.params(seed=0), bench.model_name)])  # loads the model
            for size in batches:
                measured = []
                latencies[(max_batch, size)] = []
                for repeat in range(bench.args.repeats):
                    seeds = [repeat * size + index for index in range(size)]
                    with ThreadPoolExecutor(size) as pool:  # N users submitting at the same moment
                        job_ids = list(
                            pool.map(lambda seed: platform.submit(bench.params(seed), bench.model_name), seeds)
                        )
                    jobs = platform.wait_finished(job_ids)
                    measured.append(size / span_seconds(jobs))
                    latencies[(max_batch, size)] += [job_latency(job) for job in jobs]
                rates[(max_batch, size)] = statistics.median(measured)
    rows = []
    for size in batches:
        one_at_a_time, batched = (1, size), (max(batches), size)
        rows.append(
            Row(f"platform {size} jobs, max_batch 1", rates[one_at_a_time], latency_note(latencies[one_at_a_time]))
        )
        rows.append(
            Row(
                f"platform {size} jobs, max_batch {max(batches)}",
                rates[batched],
                f"x{rates[batched] / rates[one_at_a_time]:.2f} vs max_batch 1; {latency_note(latencies[batched])}",
            )
        )
    return rows


def job_latency(job: dict) -> float:
    """What the job's user waited: its creation to its end, by the platform's clock."""
    return (timestamp(job["finished_at"]) - timestamp(job["created_at"])).total_seconds()


def latency_note(seconds: list[float]) -> str:
    return f"job latency median {statistics.median(seconds):.2f} s, slowest {max(seconds):.2f} s"


if __name__ == "__main__":
    main()
