"""CLIP scores and FID on the tiny random-weight models, in-process: the figures mean
nothing, so these test the mechanics: a score is reproducible and equals
torchmetrics' CLIPScore on the same model and inputs; scoring at generation and an
evaluation agree; FID of a set against itself is about 0 and against another set is
not; progress counts images; the result and its JSON report."""

import io
import json
import uuid

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.multimodal.clip_score import CLIPScore

from tests.worker.conftest import TINY_MODEL
from tests.worker.contexts import LocalJobContext
from worker.clip_models import ClipModelCache
from worker.executors import JobInput
from worker.executors.evaluate import run_evaluate
from worker.executors.generate import run_generate
from worker.executors.interface import TrainingImage
from worker.failures import JobFailure

TINY_CLIP = "tiny-clip"  # the name tests/conftest.py's models_dir builds it under
PROMPTS = ["a lighthouse at dusk", "a red fox in the snow", "blue", "an old map of the sea"]


@pytest.fixture(scope="module")
def clip_models(model_settings) -> ClipModelCache:
    return ClipModelCache(model_settings)


def generate(pipelines, clip_models, scores_every_image=False, **params):
    params = {"prompt": PROMPTS[0], "steps": 2, "seed": 7, "num_images": 3, **params}
    context = LocalJobContext(pipelines, clip_models=clip_models, scores_every_image=scores_every_image)
    return run_generate(JobInput(uuid.uuid4(), TINY_MODEL, params), context)


def noise_images(count: int, seed: int, size: int = 48) -> list[bytes]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        encoded = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(encoded, format="PNG")
        images.append(encoded.getvalue())
    return images


def evaluate(clip_models, params, **inputs):
    context = LocalJobContext(None, clip_models=clip_models, **inputs)
    steps: list[tuple[int, int]] = []
    context.on_progress = lambda step, total: steps.append((step, total))
    [report] = run_evaluate(JobInput(uuid.uuid4(), TINY_CLIP, params), context)
    return context.result, json.loads(report.encoded()), report, steps


def uploads_of(images: list[bytes]) -> dict[uuid.UUID, bytes]:
    return {uuid.uuid4(): data for data in images}


class TensorFeatures(torch.nn.Module):
    """torchmetrics 1.9 reads get_*_features as tensors; transformers 5 returns outputs."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model, self.config = model, model.config

    def get_image_features(self, *args, **kwargs):
        return self.model.get_image_features(*args, **kwargs).pooler_output

    def get_text_features(self, *args, **kwargs):
        return self.model.get_text_features(*args, **kwargs).pooler_output


def test_generated_images_carry_a_reproducible_score_when_asked(shared_pipelines, clip_models):
    first = generate(shared_pipelines, clip_models, score=True)
    again = generate(shared_pipelines, clip_models, score=True)

    scores = [output.clip_score for output in first]
    assert all(isinstance(score, float) and score >= 0 for score in scores)
    assert scores == [output.clip_score for output in again]
    assert [output.clip_score for output in generate(shared_pipelines, clip_models)] == [None] * 3


def test_the_setting_scores_every_job_alike(shared_pipelines, clip_models):
    asked = generate(shared_pipelines, clip_models, score=True)
    by_setting = generate(shared_pipelines, clip_models, scores_every_image=True)

    assert [output.clip_score for output in by_setting] == [output.clip_score for output in asked]


def test_a_score_equals_torchmetrics_clip_score_on_the_same_model_and_inputs(clip_models):
    clip = clip_models.get(TINY_CLIP)
    images = [Image.open(io.BytesIO(data)).convert("RGB") for data in noise_images(len(PROMPTS), seed=3)]

    ours = clip.scores(images, PROMPTS)

    theirs = []
    for image, prompt in zip(images, PROMPTS, strict=True):
        metric = CLIPScore(model_name_or_path=lambda: (TensorFeatures(clip.model), clip.processor))
        theirs.append(float(metric(torch.from_numpy(np.array(image)).permute(2, 0, 1), prompt)))
    assert ours == pytest.approx(theirs, abs=1e-4)
    assert any(score > 0 for score in ours)  # random weights: a floor of 0 everywhere would prove nothing


def test_evaluating_a_jobs_images_gives_the_scores_they_were_generated_with(shared_pipelines, clip_models):
    generated = generate(shared_pipelines, clip_models, score=True)
    job_id = uuid.uuid4()

    result, report, _, _ = evaluate(
        clip_models,
        {"images": {"job_ids": [str(job_id)]}},
        job_artifacts={job_id: [output.encoded() for output in generated]},
    )

    scores = [output.clip_score for output in generated]
    assert result["clip_score"]["per_image"] == pytest.approx(scores, abs=1e-4)
    assert result["clip_score"]["mean"] == pytest.approx(float(np.mean(scores)), abs=1e-4)
    assert result["clip_score"]["std"] == pytest.approx(float(np.std(scores)), abs=1e-4)
    assert (result["n_images"], result["n_reference"]) == (3, 0)
    assert [image["source"] for image in report["images"]] == [{"job_id": str(job_id), "index": i} for i in range(3)]
    assert {image["prompt"] for image in report["images"]} == {PROMPTS[0]}


def test_fid_of_a_set_against_itself_is_about_zero_and_against_another_is_not(clip_models):
    images, others = noise_images(6, seed=1), noise_images(6, seed=2, size=40)
    params = {"metrics": ["fid"], "images": {}, "reference": {}}

    def fid(a: list[bytes], b: list[bytes]) -> float:
        uploads, reference = uploads_of(a), uploads_of(b)
        result, *_ = evaluate(
            clip_models,
            {
                **params,
                "images": {"upload_ids": [str(i) for i in uploads]},
                "reference": {"upload_ids": [str(i) for i in reference]},
            },
            uploads=uploads | reference,
        )
        assert (result["n_images"], result["n_reference"]) == (len(a), len(b))
        assert "clip_score" not in result
        return result["fid_clip"]

    assert abs(fid(images, images)) < 1e-3
    assert fid(images, others) > 1e-3
    assert fid(images, others) == fid(images, others)


def test_progress_counts_images_measured_reference_included(clip_models):
    uploads, reference = uploads_of(noise_images(20, seed=4)), uploads_of(noise_images(3, seed=5))

    result, report, artifact, steps = evaluate(
        clip_models,
        {
            "images": {"upload_ids": [str(i) for i in uploads]},
            "prompts": ["a fox"],
            "metrics": ["clip_score", "fid"],
            "reference": {"upload_ids": [str(i) for i in reference]},
        },
        uploads=uploads | reference,
    )

    assert steps == [(16, 23), (20, 23), (23, 23)]
    assert len(result["clip_score"]["per_image"]) == 20 and "fid_clip" in result
    assert (artifact.kind, artifact.content_type, artifact.extension) == ("report", "application/json", "json")
    assert report["result"] == result and report["model"] == TINY_CLIP
    assert [image["source"] for image in report["images"]] == [{"upload_id": str(i)} for i in uploads]
    assert report["reference"] == [{"upload_id": str(i)} for i in reference]


def test_dataset_images_take_one_prompt_each(clip_models):
    dataset_id = uuid.uuid4()
    data = noise_images(2, seed=6)
    dataset = [TrainingImage(f"{i}.png", image, None) for i, image in enumerate(data)]
    clip = clip_models.get(TINY_CLIP)
    decoded = [Image.open(io.BytesIO(image)).convert("RGB") for image in data]

    result, report, _, _ = evaluate(
        clip_models,
        {"images": {"dataset_id": str(dataset_id)}, "prompts": PROMPTS[:2]},
        datasets={dataset_id: dataset},
    )

    assert result["clip_score"]["per_image"] == pytest.approx(clip.scores(decoded, PROMPTS[:2]), abs=1e-5)
    assert [image["prompt"] for image in report["images"]] == PROMPTS[:2]


def test_an_image_without_a_prompt_fails_the_job_invalid_params(clip_models):
    job_id = uuid.uuid4()

    with pytest.raises(JobFailure) as failure:
        evaluate(clip_models, {"images": {"job_ids": [str(job_id)]}}, job_artifacts={job_id: noise_images(1, seed=0)})

    assert failure.value.code == "invalid_params"
