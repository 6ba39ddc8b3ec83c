"""Benchmark: what scoring costs, and how fast the evaluator measures.

  generate           the generate executor, num_images per job, unscored
  generate+score     the same jobs with `score: true` (CLIP score of each image
                     right after decoding, by the worker's cached clip model),
                     interleaved job by job with the unscored ones
  scoring alone      the scoring call on a job's images, timed by itself
  evaluate clip      the evaluate executor's CLIP scores of uploaded images
  evaluate clip+fid  the same with FID on the CLIP embeddings (fid_clip) against as
                     many reference images
  evaluate clip+fid (Inception)  the same with FID on FID's Inception v3 (`fid`;
                     GENQ_FID_INCEPTION_WEIGHTS, else random weights of its architecture)

The clip model is the tiny offline one unless the models directory of --model
already holds a clip model (`genq models build-tiny-clip` writes the tiny one there
when it holds none). Run:
  python -m ops.bench.evaluation --steps 2                              # CPU, tiny models
  python -m ops.bench.evaluation --model DIR --device cuda --size 512 --steps 30
"""

import io
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from db.registry import default_model
from ops.bench.harness import (
    PROMPT,
    BenchJobContext,
    Row,
    parse_args,
    prepare,
    print_report,
    random_pngs,
    seconds_per_run,
    synchronize,
)
from worker.clip_models import ClipModelCache
from worker.executors.evaluate import run_evaluate
from worker.executors.generate import run_generate
from worker.executors.interface import JobInput
from worker.inception import build_random_fid_inception
from worker.pipelines import PipelineCache
from worker.tiny_clip_models import build_tiny_clip

IMAGES_PER_JOB = 4
EVALUATED_IMAGES = 64


class ScoringBenchContext(BenchJobContext):
    """The bench's JobContext with a clip model cache, uploads in memory and the result kept."""

    def __init__(self, pipelines: PipelineCache | None, clip_models: ClipModelCache) -> None:
        super().__init__(pipelines)  # type: ignore[arg-type]
        self.clip_models = clip_models
        self.uploads: dict[uuid.UUID, bytes] = {}
        self.result: dict[str, Any] | None = None

    def input_image(self, upload_id: uuid.UUID) -> bytes:
        return self.uploads[upload_id]

    def report_result(self, result: dict[str, Any]) -> None:
        self.result = result


def noise_uploads(count: int, size: int, seed: int) -> dict[uuid.UUID, bytes]:
    return {uuid.uuid4(): png for png in random_pngs(count, size, seed)}


def timed(run: Callable[[], object], device: torch.device) -> float:
    started = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - started


def main() -> None:
    bench = prepare(parse_args(__doc__))
    repeats = bench.args.repeats
    settings = bench.settings
    clip_name = default_model(settings, "clip")
    if clip_name is None:
        clip_name = build_tiny_clip(settings.models_dir / "tiny-clip").name
    clip_models = ClipModelCache(settings.model_copy(update={"fid_inception_weights": None}))
    context = ScoringBenchContext(PipelineCache(settings), clip_models)

    def generated(seed: int, **overrides: Any) -> None:
        job = bench.job(seed, num_images=IMAGES_PER_JOB, **overrides)
        [output.encoded() for output in run_generate(job, context)]  # type: ignore[arg-type]

    # Interleaved, job by job, so that neither row gets the quieter machine.
    generated(repeats)
    generated(repeats, score=True)
    unscored, scored = [], []
    for seed in range(repeats):
        unscored.append(timed(partial(generated, seed), bench.device))
        scored.append(timed(partial(generated, seed, score=True), bench.device))
    unscored_rate = IMAGES_PER_JOB / statistics.median(unscored)
    scored_rate = IMAGES_PER_JOB / statistics.median(scored)
    # The scoring call alone, on the images a job makes: the cost the ratio says, without its noise.
    outputs = run_generate(bench.job(0, num_images=IMAGES_PER_JOB), context)  # type: ignore[arg-type]
    images = [Image.open(io.BytesIO(output.encoded())) for output in outputs]
    scorer = clip_models.scorer()
    scoring = statistics.median(
        timed(lambda: scorer.scores(images, [PROMPT] * len(images)), bench.device) for _ in range(repeats)
    )
    print_report(
        f"scoring generated images ({IMAGES_PER_JOB} per job, clip model {clip_name})",
        bench,
        [
            Row("generate", unscored_rate),
            Row("generate+score", scored_rate),
            Row("scoring alone", IMAGES_PER_JOB / scoring, f"{scoring / IMAGES_PER_JOB * 1000:.2f} ms per image"),
        ],
        baseline="generate",
    )

    size = bench.args.size or 512
    context.uploads = noise_uploads(EVALUATED_IMAGES, size, seed=0) | noise_uploads(EVALUATED_IMAGES, size, seed=1)
    ids = [str(upload_id) for upload_id in context.uploads]
    evaluated_ids, reference = ids[:EVALUATED_IMAGES], ids[EVALUATED_IMAGES:]

    def evaluated(params: dict[str, Any]) -> None:
        run_evaluate(JobInput(uuid.uuid4(), clip_name, params), context)  # type: ignore[arg-type]

    clip_only = {"images": {"upload_ids": evaluated_ids}, "prompts": ["a lighthouse"], "metrics": ["clip_score"]}
    with_fid = {**clip_only, "metrics": ["clip_score", "fid"], "reference": {"upload_ids": reference}}
    clip_rate = EVALUATED_IMAGES / seconds_per_run(lambda _: evaluated(clip_only), bench.device, repeats)
    fid_rate = 2 * EVALUATED_IMAGES / seconds_per_run(lambda _: evaluated(with_fid), bench.device, repeats)
    with tempfile.TemporaryDirectory() as scratch:
        weights = settings.fid_inception_weights or build_random_fid_inception(Path(scratch) / "inception.safetensors")
        context.clip_models = ClipModelCache(settings.model_copy(update={"fid_inception_weights": weights}))
        inception_rate = 2 * EVALUATED_IMAGES / seconds_per_run(lambda _: evaluated(with_fid), bench.device, repeats)
    print_report(
        f"the evaluator ({EVALUATED_IMAGES} uploads of {size}x{size}, PNG decoding included; clip model {clip_name})",
        bench,
        [
            Row("evaluate clip", clip_rate),
            Row("evaluate clip+fid", fid_rate, f"{EVALUATED_IMAGES} images + {EVALUATED_IMAGES} reference"),
            Row("evaluate clip+fid (Inception)", inception_rate, "the same, FID on Inception v3 features"),
        ],
        baseline="evaluate clip",
    )


if __name__ == "__main__":
    main()
