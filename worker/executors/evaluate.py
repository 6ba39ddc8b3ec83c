"""The `evaluate` executor: measures the owner's images with the job's clip model.

Each image goes through the CLIP vision tower once, in chunks; its embedding gives
its CLIP score against its prompt (worker/clip_models.py). torchmetrics'
FrechetInceptionDistance is computed on FID's Inception v3 features when the worker
has its weights (`fid`, worker/inception.py), else on the CLIP embeddings
(`fid_clip`: comparable only with others made on the same clip model). Progress
counts images measured, reference images included.
Never touches Celery, the database or storage.
"""

import io
import json
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torchmetrics.image.fid import FrechetInceptionDistance

from db.kinds.evaluate import EvaluateSpec, ImageSet
from worker.clip_models import ClipModel
from worker.executors.interface import ArtifactOutput, JobContext, JobInput, KindExecutor
from worker.failures import JobFailure, parse_params
from worker.inception import FEATURES

# Images through the vision tower at once.
CHUNK = 16


@dataclass(frozen=True)
class Sample:
    image: Image.Image
    source: dict[str, Any]  # where it came from, as the report names it
    prompt: str | None


class Embeddings(torch.nn.Module):
    """The feature extractor handed to FrechetInceptionDistance: the images' features
    are computed before (CLIP embeddings serve the CLIP score too), so it passes them on."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features  # read by torchmetrics instead of a dummy image

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.double()


def run_evaluate(job: JobInput, context: JobContext) -> list[ArtifactOutput]:
    spec = parse_params(EvaluateSpec, job.params, "evaluate")
    samples = gathered(spec.images, spec.prompts, context)
    reference = gathered(spec.reference, [], context) if spec.reference is not None else []
    clip = context.clip_models.get(job.model)
    fid = inception = None
    if "fid" in spec.metrics:
        inception = context.clip_models.fid_inception
        fid = FrechetInceptionDistance(feature=Embeddings(clip.feature_size if inception is None else FEATURES))
    fid_features = clip.image_features if inception is None else inception.features
    total = len(samples) + len(reference)
    scores: list[float] = []
    done = 0
    for chunk in _chunks(samples):
        images = [sample.image for sample in chunk]
        if "clip_score" in spec.metrics or (fid is not None and inception is None):
            clip_features = clip.image_features(images)  # serve both metrics when FID is on them
            if "clip_score" in spec.metrics:
                scores += clip.scores_of(clip_features, [_prompt(sample) for sample in chunk])
            if fid is not None and inception is None:
                fid.update(clip_features, real=False)
        if fid is not None and inception is not None:
            fid.update(inception.features(images), real=False)
        done += len(chunk)
        context.report_progress(done, total)
    if fid is not None:  # a reference set is accepted with fid only
        for chunk in _chunks(reference):
            fid.update(fid_features([sample.image for sample in chunk]), real=True)
            done += len(chunk)
            context.report_progress(done, total)
    result: dict[str, Any] = {"n_images": len(samples), "n_reference": len(reference)}
    if scores:
        result["clip_score"] = {
            "mean": statistics.fmean(scores),
            "std": statistics.pstdev(scores),
            "per_image": scores,
        }
    if fid is not None:
        result["fid_clip" if inception is None else "fid"] = float(fid.compute())
    context.report_result(result)
    return [_report(job, clip, result, samples, reference, scores)]


def gathered(images: ImageSet, prompts: Sequence[str], context: JobContext) -> list[Sample]:
    """The set's images, in its order (jobs', the dataset's, uploads'); a job's image
    keeps its own prompt (its PNG's `prompt` text), the others take `prompts` (one
    for all or one each)."""
    samples = []
    for job_id in images.job_ids:
        for index, data in enumerate(context.job_images(job_id)):
            image = _decoded(data, f"image {index} of job {job_id}")
            samples.append(Sample(image, {"job_id": str(job_id), "index": index}, image.info.get("prompt")))
    files: list[tuple[bytes, dict[str, Any]]] = []
    if images.dataset_id is not None:
        dataset = context.dataset(images.dataset_id)
        files += [(image.data, {"dataset_id": str(images.dataset_id), "filename": image.filename}) for image in dataset]
    files += [(context.input_image(upload_id), {"upload_id": str(upload_id)}) for upload_id in images.upload_ids]
    for position, (data, source) in enumerate(files):
        prompt = (prompts[0] if len(prompts) == 1 else prompts[position]) if prompts else None
        samples.append(Sample(_decoded(data, json.dumps(source)), source, prompt))
    return samples


def _decoded(data: bytes, what: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError) as error:  # stored re-encoded or by genq: only a damaged object fails here
        raise JobFailure("invalid_params", f"{what} cannot be decoded") from error
    rgb = image.convert("RGB")
    rgb.info = image.info
    return rgb


def _prompt(sample: Sample) -> str:
    if sample.prompt is None:
        raise JobFailure("invalid_params", f"{json.dumps(sample.source)} has no prompt to be scored against")
    return sample.prompt


def _chunks(samples: list[Sample]) -> Iterator[list[Sample]]:
    for start in range(0, len(samples), CHUNK):
        yield samples[start : start + CHUNK]


def _report(
    job: JobInput,
    clip: ClipModel,
    result: dict[str, Any],
    samples: list[Sample],
    reference: list[Sample],
    scores: list[float],
) -> ArtifactOutput:
    """The evaluation as a JSON file: the figures, and each image with its source,
    prompt and score."""
    report = {
        "job_id": str(job.id),
        "model": job.model,
        "feature_size": clip.feature_size,
        "result": result,
        "images": [
            {"source": sample.source, "prompt": sample.prompt, "clip_score": scores[index] if scores else None}
            for index, sample in enumerate(samples)
        ],
        "reference": [sample.source for sample in reference],
    }
    return ArtifactOutput(
        index=0,
        kind="report",
        content_type="application/json",
        extension="json",
        data=json.dumps(report, indent=2).encode(),
    )


EXECUTOR = KindExecutor(run_evaluate)
