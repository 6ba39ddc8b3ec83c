"""Fixtures for the worker's tests: settings that name only the tiny model (no
services), one pipeline cache shared by the executor tests, a directory of
several tiny models for the cache's own tests, and a random LoRA for the tiny model."""

from pathlib import Path

import pytest

from db.queue import RUN_JOB_TASK
from db.settings import Settings
from tests.support.loras import save_random_lora
from worker.celery_app import create_celery
from worker.pipelines import PipelineCache
from worker.tiny_models import build_tiny_sd

TINY_MODEL = "tiny-sd"  # the name tests/conftest.py's models_dir builds it under


@pytest.fixture(scope="session")
def model_settings(models_dir) -> Settings:
    return Settings(_env_file=None, models_dir=models_dir)


@pytest.fixture(scope="session")
def shared_pipelines(model_settings) -> PipelineCache:
    """Loaded once for the session, as a worker process keeps it between jobs."""
    return PipelineCache(model_settings)


@pytest.fixture(scope="session")
def three_models_dir(tmp_path_factory) -> Path:
    """tiny-a, tiny-b and tiny-c: the same shape, different random weights."""
    root = tmp_path_factory.mktemp("three-models")
    for seed, name in enumerate(("tiny-a", "tiny-b", "tiny-c")):
        build_tiny_sd(root / name, seed=seed)
    return root


@pytest.fixture(scope="session")
def lora_file(models_dir, tmp_path_factory) -> Path:
    """A LoRA with random weights on the tiny UNet's attention projections."""
    return save_random_lora(models_dir / TINY_MODEL, tmp_path_factory.mktemp("lora"))


@pytest.fixture(scope="session")
def second_lora_file(models_dir, tmp_path_factory) -> Path:
    """Another LoRA of random weights (another seed) for the tiny UNet."""
    return save_random_lora(models_dir / TINY_MODEL, tmp_path_factory.mktemp("lora"), seed=1)


@pytest.fixture
def run_job_task(settings):
    """The task as the worker's app registers it; calling it runs it in this process."""
    import worker.tasks  # noqa: F401  (the module the worker's include loads)

    app = create_celery(settings)
    yield app.tasks[RUN_JOB_TASK]
    app.close()
