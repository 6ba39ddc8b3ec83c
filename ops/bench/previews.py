"""Benchmark: what live previews cost a generate job (GENQ_PREVIEW_EVERY_STEPS).

  off        the generate executor with previews off (GENQ_PREVIEW_EVERY_STEPS=0)
  every 5    the same jobs with a preview every 5 steps (the default), made from
             the latents (worker/previews.py) and handed to the context
  preview    one preview alone: latents of the job's size to a WebP, timed by itself,
             by the linear map and by a TAESD (AutoencoderTiny of TAESD's own
             architecture, random weights: the same FLOPs)

The two executor rows take turns job by job on two pipeline caches of the same
model; the ratio is the figure (goal: previews cost <= 3% of a 30-step SD 1.5 job).
  python -m ops.bench.previews --steps 30                                  # CPU, tiny model
  python -m ops.bench.previews --model DIR --device cuda --size 512 --steps 30
"""

import time

import torch
from diffusers import AutoencoderTiny

from ops.bench.harness import BenchJobContext, Row, parse_args, prepare, print_report, seconds_per_run, synchronize
from worker.executors.generate import run_generate
from worker.pipelines import PipelineCache
from worker.previews import preview_images

EVERY = 5


def main() -> None:
    args = parse_args(__doc__, default_steps=30)
    bench = prepare(args)
    caches = {
        every: PipelineCache(bench.settings.model_copy(update={"preview_every_steps": every})) for every in (0, EVERY)
    }
    contexts = {every: BenchJobContext(cache) for every, cache in caches.items()}
    timings: dict[int, list[float]] = {every: [] for every in caches}
    for every in caches:  # warm-up: load, first call
        run_generate(bench.job(seed=0), contexts[every])
    for index in range(args.repeats):
        for every in caches:
            started = time.perf_counter()
            run_generate(bench.job(seed=index), contexts[every])
            synchronize(bench.device)
            timings[every].append(time.perf_counter() - started)
    pipeline = caches[0].pipeline_for_job(bench.model_name, None)
    size = args.size or pipeline.unet.config.sample_size * pipeline.vae_scale_factor
    latents = torch.randn(1, pipeline.unet.config.in_channels, size // 8, size // 8, device=bench.device)
    one = seconds_per_run(lambda _index: preview_images(latents, pipeline.vae_scale_factor), bench.device, 20)
    taesd = AutoencoderTiny().to(bench.device, pipeline.dtype).eval()
    one_taesd = seconds_per_run(
        lambda _index: preview_images(latents, pipeline.vae_scale_factor, taesd), bench.device, 20
    )
    off, on = (sorted(timings[every])[len(timings[every]) // 2] for every in (0, EVERY))
    previews_per_job = (args.steps - 1) // EVERY
    print_report(
        "previews",
        bench,
        [
            Row("off", 1 / off),
            Row(f"every {EVERY}", 1 / on, f"{previews_per_job} previews per job"),
        ],
        baseline="off",
    )
    print(
        f"one preview alone: {one * 1000:.2f} ms by the linear map, {one_taesd * 1000:.2f} ms by a TAESD ({size}x{size} image)"
    )
    print(f"a TAESD's previews per job time: {previews_per_job * one_taesd / off:.1%} (from one preview)")
    print(
        f"previews' share of the job: {(on - off) / off:+.1%} measured, {previews_per_job * one / off:.1%} from one preview"
    )


if __name__ == "__main__":
    main()
