"""FID on Inception v3 features (worker/inception.py): genq's network gives
torch-fidelity's features for the same weights (so a converted
pt_inception-2015-12-05 file gives published FIDs), an evaluation with the setting
reports `fid`, and weights that are not that network fail the job clearly."""

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from tests.worker.test_evaluate import evaluate, noise_images, uploads_of
from worker.clip_models import ClipModelCache
from worker.failures import JobFailure
from worker.inception import FEATURES, load_fid_inception

# Installed by make venv-dev off sys.path (see the Makefile for why).
TORCH_FIDELITY = Path(sys.prefix) / "reference" / "torch-fidelity" / "torch_fidelity"


def torch_fidelity_inception(weights: dict[str, torch.Tensor], directory):
    """torch-fidelity's FeatureExtractorInceptionV3 with `weights`. Its package's
    __init__ imports torchvision (for datasets genq does not use), which a CPU torch
    cannot load, so its modules are imported without it. It reads weights with
    torch.load: this test's own file."""
    assert TORCH_FIDELITY.is_dir(), f"{TORCH_FIDELITY} is installed by make venv-dev"
    package = types.ModuleType("torch_fidelity")
    package.__path__ = [str(TORCH_FIDELITY)]
    sys.modules["torch_fidelity"] = package
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    finally:
        for name in [name for name in sys.modules if name.startswith("torch_fidelity")]:
            del sys.modules[name]
    path = directory / "weights.pth"
    # torch-fidelity's file holds the classifier head too; genq's network ignores it.
    torch.save({**weights, "fc.weight": torch.randn(1008, FEATURES), "fc.bias": torch.zeros(1008)}, path)
    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))


@pytest.fixture(scope="module")
def inception_models(model_settings, fid_inception_weights) -> ClipModelCache:
    return ClipModelCache(model_settings.model_copy(update={"fid_inception_weights": fid_inception_weights}))


def test_features_are_torch_fidelitys_for_the_same_weights(fid_inception_weights, tmp_path):
    reference = torch_fidelity_inception(safetensors.torch.load_file(fid_inception_weights), tmp_path)
    network = load_fid_inception(fid_inception_weights, torch.device("cpu"))
    rng = np.random.default_rng(0)
    # Smaller, equal to and larger than the network's 299 x 299, square or not.
    images = [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(64, 48), (299, 299), (320, 512)]
    ]

    ours = network.features(images)

    assert ours.shape == (3, FEATURES)
    for image, features in zip(images, ours, strict=True):
        [expected] = reference(torch.from_numpy(np.array(image)).permute(2, 0, 1)[None])
        assert torch.allclose(features, expected[0], rtol=1e-4, atol=1e-3), image.size
    assert ours.std() > 1  # calibrated random weights: features that are not all alike


def test_an_evaluation_with_the_setting_reports_fid_on_inception_features(inception_models):
    images, others = noise_images(5, seed=1), noise_images(5, seed=2, size=40)
    uploads, same, reference = uploads_of(images), uploads_of(images), uploads_of(others)

    def evaluated(reference_uploads, metrics):
        result, report, _, steps = evaluate(
            inception_models,
            {
                "images": {"upload_ids": [str(i) for i in uploads]},
                "prompts": ["a fox"],
                "metrics": metrics,
                "reference": {"upload_ids": [str(i) for i in reference_uploads]},
            },
            uploads=uploads | same | reference,
        )
        assert report["result"] == result and steps[-1] == (10, 10)
        return result

    against_itself = evaluated(same, ["fid"])
    against_others = evaluated(reference, ["clip_score", "fid"])

    assert "fid_clip" not in against_itself and "clip_score" not in against_itself
    # About 0: what is left is the float error of square roots of 2048 x 2048 covariances.
    assert abs(against_itself["fid"]) < 1e-5 * against_others["fid"]
    assert against_others["fid"] > 1
    assert len(against_others["clip_score"]["per_image"]) == 5
    assert evaluated(reference, ["fid"])["fid"] == against_others["fid"]


def test_weights_that_are_not_fids_inception_fail_model_load_failed(model_settings, tmp_path):
    other = tmp_path / "other.safetensors"
    safetensors.torch.save_file({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, str(other))
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"not a safetensors file")
    uploads = uploads_of(noise_images(2, seed=3))
    params = {
        "images": {"upload_ids": [str(i) for i in uploads]},
        "metrics": ["fid"],
        "reference": {"upload_ids": [str(i) for i in uploads]},
    }

    for path, says in [
        (other, "is not FID's Inception v3"),
        (damaged, "damaged.safetensors"),
        (tmp_path / "missing.safetensors", "missing.safetensors"),
    ]:
        models = ClipModelCache(model_settings.model_copy(update={"fid_inception_weights": path}))
        with pytest.raises(JobFailure) as failure:
            evaluate(models, params, uploads=uploads)
        assert failure.value.code == "model_load_failed" and says in str(failure.value), path
