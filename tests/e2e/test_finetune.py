"""A user trains a LoRA on the production shape: uploads images to `genq web`, a
real worker trains 30 steps, the loss series and the adapter come back over HTTP,
and the adapter file is one diffusers loads."""

import math

import numpy as np
import requests
import torch
from diffusers import StableDiffusionPipeline

from tests.support.http import download_image, get_job, pixels, submit, wait_until_finished
from tests.support.training import training_pngs
from tests.support.waiting import wait_for

TINY_MODEL = "tiny-sd"


def upload_dataset(platform, pngs: list[bytes]) -> str:
    files = [("files", (f"{index}.png", png, "image/png")) for index, png in enumerate(pngs)]
    response = requests.post(f"{platform}/api/v1/datasets", files=files, headers=platform.headers, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def download(platform, artifact: dict) -> bytes:
    if artifact["url"].startswith("http"):
        response = requests.get(artifact["url"], timeout=30)  # presigned: its own credential
    else:
        response = requests.get(platform + artifact["url"], headers=platform.headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def test_a_lora_trained_over_http_has_its_loss_series_and_a_loadable_adapter(platform, models_dir, tmp_path):
    dataset_id = upload_dataset(platform, training_pngs(4))
    params = {
        "dataset_id": dataset_id,
        "instance_prompt": "a photo of sks pattern",
        "resolution": 64,
        "max_train_steps": 30,
        "batch_size": 2,
        "learning_rate": 1e-3,
        "seed": 5,
        "validation_prompt": "a photo of sks pattern",
        "num_validation_images": 2,
        "adapter_name": "sks pattern",
    }
    job = submit(platform, params, kind="finetune", model=TINY_MODEL)

    done = wait_until_finished(platform, job["id"], timeout=300)

    assert done["status"] == "succeeded", done["error"]
    assert done["progress"]["step"] == done["progress"]["total"] == 30
    assert done["loss"]["step"] == 30 and math.isfinite(done["loss"]["value"])
    loss = requests.get(f"{platform}/api/v1/jobs/{job['id']}/loss", headers=platform.headers, timeout=10)
    assert loss.status_code == 200
    points = loss.json()["points"]
    assert [step for step, _ in points] == list(range(1, 31))
    assert all(math.isfinite(value) and value > 0 for _, value in points)

    adapter_artifact, *validation = done["artifacts"]
    assert adapter_artifact["kind"] == "adapter"
    assert [(artifact["kind"], artifact["seed"]) for artifact in validation] == [("image", 5), ("image", 6)]
    weights = tmp_path / "sks.safetensors"
    weights.write_bytes(download(platform, adapter_artifact))
    pipeline = StableDiffusionPipeline.from_pretrained(models_dir / TINY_MODEL, safety_checker=None)
    pipeline.set_progress_bar_config(disable=True)
    without = _draw(pipeline)
    pipeline.load_lora_weights(tmp_path, weight_name=weights.name)
    assert not np.array_equal(_draw(pipeline), without)

    adapters = requests.get(f"{platform}/api/v1/adapters", headers=platform.headers, timeout=10)
    assert adapters.status_code == 200
    [adapter] = [item for item in adapters.json()["adapters"] if item["training_job_id"] == job["id"]]
    assert (adapter["name"], adapter["base_model"], adapter["rank"]) == ("sks pattern", TINY_MODEL, 4)

    # Generating with it: other pixels than without it, the same ones twice.
    image = {"prompt": "a photo of sks pattern", "width": 64, "height": 64, "steps": 4, "seed": 21}
    with_adapter = {**image, "adapter": {"id": adapter["id"], "scale": 1.0}}
    jobs = [submit(platform, body, model=TINY_MODEL) for body in (image, with_adapter, with_adapter)]
    plain, adapted, again = (_only_image(platform, wait_until_finished(platform, job["id"])) for job in jobs)
    assert not np.array_equal(adapted, plain)
    assert np.array_equal(adapted, again)


def test_the_job_shows_its_latest_loss_while_it_trains(platform):
    dataset_id = upload_dataset(platform, training_pngs(2))
    # Far more steps than it gets to: it is canceled once a loss shows.
    params = {"dataset_id": dataset_id, "instance_prompt": "sks", "resolution": 64, "max_train_steps": 5000}
    job = submit(platform, {**params, "batch_size": 1, "seed": 1}, kind="finetune", model=TINY_MODEL)

    def training_with_a_loss() -> dict | None:
        current = get_job(platform, job["id"])
        assert current["status"] in ("queued", "running"), current
        return current if current["loss"] is not None else None

    running = wait_for(training_with_a_loss, timeout=120, interval=0.2, what="a loss while training")

    assert running["status"] == "running"
    assert 1 <= running["loss"]["step"] < 5000 and math.isfinite(running["loss"]["value"])
    requests.post(f"{platform}/api/v1/jobs/{job['id']}/cancel", headers=platform.headers, timeout=10)
    assert wait_until_finished(platform, job["id"])["status"] == "canceled"


def _only_image(platform, job: dict) -> np.ndarray:
    assert job["status"] == "succeeded", job["error"]
    [artifact] = job["artifacts"]
    return pixels(download_image(platform, artifact))


def _draw(pipeline: StableDiffusionPipeline) -> np.ndarray:
    generator = torch.Generator("cpu").manual_seed(3)
    return pipeline("a photo of sks pattern", num_inference_steps=3, generator=generator, output_type="np").images[0]
