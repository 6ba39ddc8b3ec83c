"""Cross-job batching in the generate executor, in-process on the tiny model: jobs
run as one pipeline call get each the images they get alone (same seeds), their
own progress, and a job canceled mid-batch leaves it while the others go on."""

import io
import uuid

import numpy as np
import pytest
from PIL import Image

from tests.worker.conftest import TINY_MODEL
from tests.worker.contexts import LocalJobContext
from worker.executors import ArtifactOutput, JobInput
from worker.executors.generate import run_generate, run_generate_batch
from worker.executors.interface import AdapterWeights
from worker.failures import JobFailure
from worker.progress import JobCanceled

# A batch and a single run may round differently in the last bits of a float (the
# matrix products see other row counts); on 0..255 pixels that stays within 2.
TOLERANCE = 2

SHAPE = {"steps": 3, "width": 64, "height": 64, "guidance_scale": 7.5}
# Prompts, negative prompts, seeds and image counts differ; whether there is a
# negative prompt may not (db/batches.py).
JOBS = [
    {"prompt": "a lighthouse at dusk", "seed": 11, "negative_prompt": "blurry"},
    {"prompt": "a red door", "seed": 22, "num_images": 2, "negative_prompt": "fog"},
    {"prompt": "a small boat", "seed": 33, "negative_prompt": "text, watermark"},
    {"prompt": "a lighthouse at dusk", "seed": 44, "negative_prompt": "blurry"},
]


def job_input(params: dict) -> JobInput:
    return JobInput(uuid.uuid4(), TINY_MODEL, {**SHAPE, **params})


def pixels(output: ArtifactOutput) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(output.encoded())).convert("RGB"), dtype=np.float32)


def assert_same_images(batched: list[ArtifactOutput], alone: list[ArtifactOutput]) -> None:
    assert [(output.index, output.seed) for output in batched] == [(output.index, output.seed) for output in alone]
    for batched_output, alone_output in zip(batched, alone, strict=True):
        assert np.abs(pixels(batched_output) - pixels(alone_output)).max() <= TOLERANCE
        assert (
            Image.open(io.BytesIO(batched_output.encoded())).text == Image.open(io.BytesIO(alone_output.encoded())).text
        )


class CanceledAt(LocalJobContext):
    """A context whose job is canceled when it reaches `step`."""

    def __init__(self, pipelines, step: int) -> None:
        super().__init__(pipelines)
        self.step = step
        self.reported: list[int] = []

    def report_progress(self, step: int, total: int) -> None:
        self.reported.append(step)
        if step >= self.step:
            raise JobCanceled(step)


@pytest.fixture(scope="module")
def alone(shared_pipelines) -> list[list[ArtifactOutput]]:
    return [run_generate(job_input(params), LocalJobContext(shared_pipelines)) for params in JOBS]


def test_each_job_of_a_batch_gets_the_images_it_gets_alone(shared_pipelines, alone):
    reports: list[list[tuple[int, int]]] = [[] for _ in JOBS]
    contexts = [
        LocalJobContext(shared_pipelines, lambda step, total, into=into: into.append((step, total))) for into in reports
    ]
    loads_and_hits = shared_pipelines.stats.loads + shared_pipelines.stats.hits

    results = run_generate_batch([job_input(params) for params in JOBS], contexts)

    # One pipeline call: the cached pipeline was asked for once.
    assert shared_pipelines.stats.loads + shared_pipelines.stats.hits == loads_and_hits + 1
    assert [len(outputs) for outputs in results] == [1, 2, 1, 1]
    for batched, solo in zip(results, alone, strict=True):
        assert_same_images(batched, solo)
    # Every job had its own progress, every step.
    assert reports == [[(1, 3), (2, 3), (3, 3)]] * len(JOBS)
    # The batch's images differ from one another (not one image repeated).
    first, second = results[0][0], results[3][0]
    assert np.abs(pixels(first) - pixels(second)).mean() > 1


def test_a_job_canceled_mid_batch_leaves_it_and_the_others_get_their_images(shared_pipelines, alone):
    canceled = CanceledAt(shared_pipelines, step=2)
    contexts = [LocalJobContext(shared_pipelines) for _ in JOBS]
    contexts[1] = canceled

    results = run_generate_batch([job_input(params) for params in JOBS], contexts)

    assert isinstance(results[1], JobCanceled) and results[1].step == 2
    # Canceled at step 2: not asked again after it.
    assert canceled.reported == [1, 2]
    for index in (0, 2, 3):
        assert_same_images(results[index], alone[index])


def test_when_every_job_is_canceled_the_call_stops_at_that_step(shared_pipelines):
    contexts = [CanceledAt(shared_pipelines, step=1) for _ in range(2)]

    results = run_generate_batch([job_input({**params, "steps": 20}) for params in JOBS[:2]], contexts)

    assert [result.step for result in results] == [1, 1]
    assert [context.reported for context in contexts] == [[1], [1]]


def test_a_job_with_invalid_params_fails_alone(shared_pipelines, alone):
    contexts = [LocalJobContext(shared_pipelines) for _ in range(2)]

    results = run_generate_batch([job_input({"prompt": "", "seed": 1}), job_input(JOBS[0])], contexts)

    assert isinstance(results[0], JobFailure) and results[0].code == "invalid_params"
    assert_same_images(results[1], alone[0])


def test_jobs_of_different_batch_keys_are_refused(shared_pipelines):
    contexts = [LocalJobContext(shared_pipelines) for _ in range(2)]

    with pytest.raises(ValueError):
        run_generate_batch([job_input(JOBS[0]), job_input({**JOBS[2], "steps": 4})], contexts)


def test_a_batch_with_an_adapter_gives_each_job_its_solo_adapted_images(shared_pipelines, lora_file, alone):
    adapter_id = uuid.uuid4()
    adapter = {"adapter": {"id": str(adapter_id), "scale": 0.8}}
    allowed = {adapter_id: AdapterWeights(adapter_id, TINY_MODEL, lora_file)}
    # Each job reads the adapter through its own context: this one's is of another model.
    refused = {adapter_id: AdapterWeights(adapter_id, "another-model", lora_file)}
    jobs = [job_input({**JOBS[0], **adapter}), job_input({**JOBS[1], **adapter}), job_input({**JOBS[2], **adapter})]
    solo = [run_generate(job, LocalJobContext(shared_pipelines, adapters=allowed)) for job in jobs[:2]]
    contexts = [LocalJobContext(shared_pipelines, adapters=adapters) for adapters in (allowed, allowed, refused)]

    results = run_generate_batch(jobs, contexts)

    assert_same_images(results[0], solo[0])
    assert_same_images(results[1], solo[1])
    assert isinstance(results[2], JobFailure) and results[2].code == "adapter_model_mismatch"
    # The adapter moved the images, and was unloaded after the batch.
    assert np.abs(pixels(results[0][0]) - pixels(alone[0][0])).mean() > 1
    assert run_generate(job_input(JOBS[0]), LocalJobContext(shared_pipelines))[0].encoded() == alone[0][0].encoded()
