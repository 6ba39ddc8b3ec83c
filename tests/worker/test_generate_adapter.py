"""Generate jobs with adapters: a LoRA changes the image, only for its job (the
cached pipeline gives exactly the pixels of before afterwards), scale 0 is the base
model, two at once make an image of their own whatever their order; in-process on
the tiny model, then through the runner with the adapters' weights in S3 and their
rows in Postgres."""

import io
import json
import uuid

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from db.jobs import LOCAL_OWNER, create_job, get_job
from db.kinds.generate import GenerateSpec
from db.queue import RUN_JOB_TASK
from db.storage import make_storage
from tests.support.adapters import insert_adapter
from tests.worker.conftest import TINY_MODEL
from tests.worker.contexts import LocalJobContext
from worker.adapters import AdapterFiles
from worker.celery_app import create_celery
from worker.executors import ArtifactOutput, JobInput
from worker.executors.generate import run_generate
from worker.executors.interface import AdapterWeights
from worker.failures import JobFailure

ADAPTER_ID = uuid.uuid4()
SECOND_ID = uuid.uuid4()


@pytest.fixture(scope="module")
def context(shared_pipelines, lora_file, second_lora_file) -> LocalJobContext:
    adapters = {
        ADAPTER_ID: AdapterWeights(ADAPTER_ID, TINY_MODEL, lora_file),
        SECOND_ID: AdapterWeights(SECOND_ID, TINY_MODEL, second_lora_file),
    }
    return LocalJobContext(shared_pipelines, adapters=adapters)


def generate(context, adapter: dict | None = None, **params) -> ArtifactOutput:
    params = {"prompt": "a lighthouse at dusk", "steps": 3, "seed": 1234, "adapter": adapter, **params}
    [output] = run_generate(JobInput(uuid.uuid4(), TINY_MODEL, params), context)
    return output


def pixels(output: ArtifactOutput) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(output.encoded())).convert("RGB"), dtype=np.float32)


def test_the_adapter_changes_the_image_of_the_same_seed(context):
    plain = generate(context)
    adapted = generate(context, {"id": str(ADAPTER_ID), "scale": 1.0})

    assert np.abs(pixels(plain) - pixels(adapted)).mean() > 1


def test_twice_with_the_adapter_gives_identical_bytes(context):
    first = generate(context, {"id": str(ADAPTER_ID), "scale": 0.8})
    second = generate(context, {"id": str(ADAPTER_ID), "scale": 0.8})

    assert first.encoded() == second.encoded()


def test_a_job_without_the_adapter_after_one_with_it_gets_the_pixels_of_before(context):
    before = generate(context, seed=55)
    generate(context, {"id": str(ADAPTER_ID)}, seed=55)
    after = generate(context, seed=55)

    assert after.encoded() == before.encoded()


def test_scale_zero_is_the_base_model(context):
    plain = generate(context, seed=9)
    at_zero = generate(context, {"id": str(ADAPTER_ID), "scale": 0}, seed=9)

    assert np.abs(pixels(plain) - pixels(at_zero)).max() <= 1


def test_the_scale_sets_how_far_the_image_moves(context):
    plain = pixels(generate(context, seed=3))
    half = pixels(generate(context, {"id": str(ADAPTER_ID), "scale": 0.5}, seed=3))
    full = pixels(generate(context, {"id": str(ADAPTER_ID), "scale": 1.0}, seed=3))

    assert 0 < np.abs(half - plain).mean() < np.abs(full - plain).mean()


def test_the_png_names_the_adapter_and_its_scale(context):
    output = generate(context, {"id": str(ADAPTER_ID), "scale": 0.8})

    text = Image.open(io.BytesIO(output.encoded())).text
    assert json.loads(text["adapters"]) == [{"id": str(ADAPTER_ID), "scale": 0.8}]


def both(first_scale: float = 1.0, second_scale: float = 0.7) -> list[dict]:
    return [{"id": str(ADAPTER_ID), "scale": first_scale}, {"id": str(SECOND_ID), "scale": second_scale}]


def test_two_adapters_at_once_differ_from_each_alone(context):
    [first, second] = both()
    together = pixels(generate(context, adapters=[first, second], seed=5))
    first_alone = pixels(generate(context, first, seed=5))
    second_alone = pixels(generate(context, second, seed=5))

    assert np.abs(together - first_alone).mean() > 1
    assert np.abs(together - second_alone).mean() > 1


def test_the_order_of_the_adapters_changes_no_pixel(context):
    forward = generate(context, adapters=both(), seed=6)
    backward = generate(context, adapters=both()[::-1], seed=6)

    assert forward.encoded() == backward.encoded()


def test_a_job_without_adapters_after_one_with_two_gets_the_pixels_of_before(context):
    before = generate(context, seed=57)
    generate(context, adapters=both(), seed=57)
    after = generate(context, seed=57)

    assert after.encoded() == before.encoded()


def test_an_adapter_of_another_model_fails_the_job(shared_pipelines, lora_file):
    other = AdapterWeights(ADAPTER_ID, "another-model", lora_file)
    context = LocalJobContext(shared_pipelines, adapters={ADAPTER_ID: other})

    with pytest.raises(JobFailure) as failure:
        generate(context, {"id": str(ADAPTER_ID)})
    assert failure.value.code == "adapter_model_mismatch"


def write_misfit(kind: str, lora_file, path):
    if kind == "not_safetensors":
        path.write_bytes(b"not a safetensors file")
    else:
        # As a LoRA of a model with wider layers: its shapes do not fit, which
        # diffusers finds only after it has injected the LoRA layers.
        layers = load_file(lora_file)
        save_file({name: torch.nn.functional.pad(tensor, (0, 8)) for name, tensor in layers.items()}, path)


@pytest.mark.parametrize("kind", ["not_safetensors", "wrong_shapes"])
def test_weights_that_do_not_fit_the_model_fail_the_job_and_leave_no_trace(
    kind, context, shared_pipelines, lora_file, tmp_path
):
    misfit = tmp_path / "misfit.safetensors"
    write_misfit(kind, lora_file, misfit)
    misfit_weights = AdapterWeights(ADAPTER_ID, TINY_MODEL, misfit)
    broken = LocalJobContext(shared_pipelines, adapters={ADAPTER_ID: misfit_weights})
    plain_before = generate(context, seed=21)
    adapted_before = generate(context, {"id": str(ADAPTER_ID)}, seed=21)

    with pytest.raises(JobFailure) as failure:
        generate(broken, {"id": str(ADAPTER_ID)}, seed=21)

    assert failure.value.code == "adapter_load_failed"
    assert str(tmp_path) not in str(failure.value)
    assert generate(context, seed=21).encoded() == plain_before.encoded()
    assert generate(context, {"id": str(ADAPTER_ID)}, seed=21).encoded() == adapted_before.encoded()


@pytest.fixture
def run_job_task(settings):
    import worker.tasks  # noqa: F401  (the module the worker's include loads)

    app = create_celery(settings)
    yield app.tasks[RUN_JOB_TASK]
    app.close()


def submit(sessions, *, owner=LOCAL_OWNER, **params) -> uuid.UUID:
    spec = GenerateSpec.model_validate({"prompt": "a small boat", "steps": 3, "seed": 8, **params})
    params = spec.model_dump(mode="json")
    with sessions.begin() as session:
        return create_job(session, owner=owner, kind="generate", model=TINY_MODEL, params=params).id


def stored_image(settings, sessions, job_id) -> bytes:
    with sessions() as session:
        [artifact] = get_job(session, job_id, owner=None).artifacts
        key = artifact.storage_key
    return make_storage(settings).get(key)


def test_a_worker_fetches_the_adapters_weights_from_storage(settings, sessions, run_job_task, lora_file):
    weights = lora_file.read_bytes()
    make_storage(settings).put("adapters/test.safetensors", weights, "application/octet-stream")
    with sessions() as session:
        adapter_id = insert_adapter(
            session, owner=LOCAL_OWNER, base_model=TINY_MODEL, storage_key="adapters/test.safetensors", data=weights
        ).id
    plain_job = submit(sessions)
    adapted_job = submit(sessions, adapter={"id": adapter_id})
    again_job = submit(sessions, adapter={"id": adapter_id})

    for job_id in (plain_job, adapted_job, again_job):
        assert run_job_task(str(job_id)) == "succeeded"

    plain, adapted, again = (stored_image(settings, sessions, job) for job in (plain_job, adapted_job, again_job))
    assert adapted != plain
    assert again == adapted


def test_another_owners_adapter_fails_the_job_as_invalid(settings, sessions, run_job_task, lora_file):
    make_storage(settings).put("adapters/bob.safetensors", lora_file.read_bytes(), "application/octet-stream")
    with sessions() as session:
        adapter_id = insert_adapter(
            session, owner="bob", base_model=TINY_MODEL, storage_key="adapters/bob.safetensors"
        ).id
    job_id = submit(sessions, adapter={"id": adapter_id})

    assert run_job_task(str(job_id)) == "failed"

    with sessions() as session:
        job = get_job(session, job_id, owner=None)
        assert (job.error_code, job.attempt) == ("invalid_params", 1)


def test_adapter_files_download_once_and_keep_the_most_recently_used(tmp_path):
    files = AdapterFiles(tmp_path, capacity=2)
    downloads = []

    def fetch(adapter_id):
        return files.path_for(adapter_id, lambda: downloads.append(adapter_id) or adapter_id.bytes)

    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert fetch(first).read_bytes() == first.bytes
    fetch(second)
    fetch(first)  # from disk; now the most recently used
    fetch(third)  # evicts `second`
    fetch(first)
    fetch(second)

    assert downloads == [first, second, third, second]
    assert len(list(tmp_path.iterdir())) == 2


def test_an_adapter_whose_weights_are_gone_fails_the_job_as_invalid(sessions, run_job_task):
    with sessions() as session:
        adapter_id = insert_adapter(
            session, owner=LOCAL_OWNER, base_model=TINY_MODEL, storage_key="adapters/never-stored.safetensors"
        ).id
    job_id = submit(sessions, adapter={"id": adapter_id})

    assert run_job_task(str(job_id)) == "failed"

    with sessions() as session:
        job = get_job(session, job_id, owner=None)
        assert (job.error_code, job.attempt) == ("invalid_params", 1)
        assert "never-stored" not in job.error_message  # storage keys are not the owner's business
