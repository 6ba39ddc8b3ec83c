"""The per-process pipeline cache: loads once per (model, dtype, device), evicts the
least recently used at its size cap, and gives every job a scheduler of its own."""

import shutil

import pytest
import torch
from diffusers import EulerDiscreteScheduler, HeunDiscreteScheduler

from db.kinds.generate import SCHEDULERS
from db.settings import Settings
from worker.failures import JobFailure
from worker.model_cache import resolve_device, resolve_dtype
from worker.pipelines import SCHEDULER_CLASSES, PipelineCache


@pytest.fixture
def cache_of_two(three_models_dir) -> PipelineCache:
    return PipelineCache(Settings(_env_file=None, models_dir=three_models_dir, pipeline_cache_size=2))


def test_a_second_job_on_the_same_model_does_not_reload(cache_of_two):
    first = cache_of_two.get("tiny-a")
    second = cache_of_two.get("tiny-a")

    assert second is first
    assert (cache_of_two.stats.loads, cache_of_two.stats.hits) == (1, 1)


def test_a_different_model_loads_again(cache_of_two):
    first = cache_of_two.get("tiny-a")
    other = cache_of_two.get("tiny-b")

    assert other is not first
    assert cache_of_two.stats.loads == 2
    assert len(cache_of_two) == 2


def test_the_least_recently_used_pipeline_is_evicted_at_the_cap(cache_of_two):
    cache_of_two.get("tiny-a")
    cache_of_two.get("tiny-b")
    cache_of_two.get("tiny-a")  # b is now the least recently used
    cache_of_two.get("tiny-c")  # evicts b

    assert len(cache_of_two) == 2
    assert (cache_of_two.stats.loads, cache_of_two.stats.evictions) == (3, 1)

    cache_of_two.get("tiny-a")
    assert cache_of_two.stats.loads == 3  # a stayed
    cache_of_two.get("tiny-b")
    assert cache_of_two.stats.loads == 4  # b was gone


def test_each_job_gets_a_fresh_scheduler_and_the_cached_pipeline_keeps_its_own(cache_of_two):
    cached = cache_of_two.get("tiny-a")
    own_scheduler, own_config = cached.scheduler, dict(cached.config)

    heun_job = cache_of_two.pipeline_for_job("tiny-a", "heun")
    default_job = cache_of_two.pipeline_for_job("tiny-a", None)

    assert isinstance(heun_job.scheduler, HeunDiscreteScheduler)
    assert type(default_job.scheduler) is EulerDiscreteScheduler
    assert default_job.scheduler is not own_scheduler
    assert heun_job.unet is cached.unet  # the weights are shared, not copied
    assert cached.scheduler is own_scheduler and dict(cached.config) == own_config
    assert cache_of_two.stats.loads == 1


def test_job_schedulers_keep_the_models_training_schedule(cache_of_two):
    job = cache_of_two.pipeline_for_job("tiny-a", "ddim")

    # From the model's config, not the class defaults (which are wrong for SD latents).
    assert job.scheduler.config.beta_schedule == "scaled_linear"
    assert job.scheduler.config.clip_sample is False


def test_every_scheduler_name_users_may_pick_has_a_class():
    assert set(SCHEDULER_CLASSES) == set(SCHEDULERS)


def test_unknown_model_is_model_not_found(cache_of_two):
    with pytest.raises(JobFailure) as failure:
        cache_of_two.get("tiny-z")

    assert failure.value.code == "model_not_found"


def test_a_model_without_safetensors_weights_fails_to_load(three_models_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(three_models_dir / "tiny-a", broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    cache = PipelineCache(Settings(_env_file=None, models_dir=tmp_path))

    with pytest.raises(JobFailure) as failure:
        cache.get("broken")

    assert failure.value.code == "model_load_failed"
    assert cache.stats.loads == 0 and len(cache) == 0


def test_auto_dtype_is_full_precision_on_cpu_and_half_on_mps():
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("mps")) == torch.float16


def test_a_named_device_is_used_as_given():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_settings_override_the_dtype():
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ValueError, match="GENQ_DTYPE"):
        resolve_dtype("float8", torch.device("cpu"))


def test_pipelines_load_with_the_device_and_dtype_settings_name(three_models_dir):
    settings = Settings(_env_file=None, models_dir=three_models_dir, device="cpu", dtype="bfloat16")
    cache = PipelineCache(settings)

    pipeline = cache.get("tiny-a")

    assert pipeline.unet.dtype == torch.bfloat16 and pipeline.device == torch.device("cpu")


def test_a_warmed_up_model_is_loaded_once_and_then_served_from_the_cache(model_settings):
    cache = PipelineCache(model_settings)

    cache.warm_up("tiny-sd")
    cache.pipeline_for_job("tiny-sd", None)

    assert (cache.stats.loads, cache.stats.hits) == (1, 1)
