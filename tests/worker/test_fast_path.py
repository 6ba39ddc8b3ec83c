"""The parts of the fast single-job path (docs/performance.md) a CPU can check: VAE
slicing on every loaded pipeline, VAE tiling only for a large image's call, and
the first call of each shape logged when the UNet is compiled."""

import logging

from db.settings import Settings
from tests.worker.conftest import TINY_MODEL
from worker.pipelines import PipelineCache, vae_tiling_for


def test_a_loaded_pipelines_vae_decodes_one_image_at_a_time(shared_pipelines):
    assert shared_pipelines.get(TINY_MODEL).vae.use_slicing


def test_the_vae_tiles_only_the_call_of_an_image_above_1024_by_1024_pixels(shared_pipelines):
    vae = shared_pipelines.get(TINY_MODEL).vae
    pipeline = shared_pipelines.pipeline_for_job(TINY_MODEL, None)

    with vae_tiling_for(pipeline, 1024, 1024):
        assert not vae.use_tiling
    with vae_tiling_for(pipeline, 1024, 1032):
        assert vae.use_tiling
    assert not vae.use_tiling


def test_the_first_call_of_each_shape_is_logged_when_the_unet_is_compiled(models_dir, caplog):
    pipelines = PipelineCache(Settings(_env_file=None, models_dir=models_dir, compile_unet=True))
    caplog.set_level(logging.INFO, logger="worker.pipelines")

    for shape in [(2, 64, 64), (2, 64, 64), (4, 64, 64)]:
        with pipelines.compile_timed(TINY_MODEL, shape):
            pass

    logged = [record.getMessage() for record in caplog.records if "compiling the UNet" in record.getMessage()]
    assert [message.split(" took ")[0] for message in logged] == [
        f"first call of {TINY_MODEL} at shape (2, 64, 64)",
        f"first call of {TINY_MODEL} at shape (4, 64, 64)",
    ]


def test_nothing_is_logged_when_the_unet_is_not_compiled(shared_pipelines, caplog):
    caplog.set_level(logging.INFO, logger="worker.pipelines")

    with shared_pipelines.compile_timed(TINY_MODEL, (1, 64, 64)):
        pass

    assert not [record for record in caplog.records if "compiling the UNet" in record.getMessage()]
