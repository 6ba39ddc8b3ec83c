"""Weights load from .safetensors only: a model whose weights exist only in a
pickle format (.bin, .ckpt, .pt) is refused with `unsafe_weights` before any
file is read, and a model with both formats loads from safetensors."""

import shutil

import pytest

from db.settings import Settings
from worker.failures import JobFailure, is_retryable
from worker.pipelines import PipelineCache
from worker.weights import pickle_only_weights


@pytest.fixture
def model_copy(three_models_dir, tmp_path):
    model = tmp_path / "tiny-copy"
    shutil.copytree(three_models_dir / "tiny-a", model)
    return model


@pytest.mark.parametrize("suffix", [".bin", ".ckpt", ".pt"])
def test_a_model_with_pickle_only_weights_is_refused_before_loading(model_copy, suffix):
    unet = model_copy / "unet"
    (unet / "diffusion_pytorch_model.safetensors").unlink()
    # Not even a valid pickle: the refusal must come before anything reads the file.
    (unet / f"diffusion_pytorch_model{suffix}").write_bytes(b"\x80\x04 would run code when unpickled")
    cache = PipelineCache(Settings(_env_file=None, models_dir=model_copy.parent))

    with pytest.raises(JobFailure) as failure:
        cache.get("tiny-copy")

    assert failure.value.code == "unsafe_weights" and not is_retryable("unsafe_weights")
    assert f"unet/diffusion_pytorch_model{suffix}" in str(failure.value)
    assert str(model_copy) not in str(failure.value)  # no paths of the worker's machine
    assert cache.stats.loads == 0


def test_a_single_file_checkpoint_is_refused(tmp_path):
    model = tmp_path / "sd-single-file"
    model.mkdir()
    (model / "model.ckpt").write_bytes(b"pickle")
    assert pickle_only_weights(model) == ["model.ckpt"]


def test_pickle_files_beside_safetensors_are_ignored(model_copy):
    (model_copy / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"never read")
    assert pickle_only_weights(model_copy) == []
    cache = PipelineCache(Settings(_env_file=None, models_dir=model_copy.parent))
    cache.get("tiny-copy")
    assert cache.stats.loads == 1
