"""AUTOMATIC1111's own Python client, `webuiapi`, pointed at a running genq with
HTTP Basic (the key as password, as for A1111's --api-auth): img2img and
inpainting, png-info of an image genq made, the LoRA list and `<lora:...>` in a
prompt, the scheduler list. Each call is an ordinary genq job of the key's owner."""

import base64
import io

import numpy as np
import pytest
import requests
import webuiapi
from PIL import Image

from db.session import make_session_factory
from db.storage import make_storage
from tests.compat.conftest import IMAGE_MODEL
from tests.support.adapters import insert_adapter
from tests.support.http import pixels
from tests.support.loras import save_random_lora

SMALL = {"width": 64, "height": 64, "steps": 3, "cfg_scale": 7}


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    values = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(values)


@pytest.fixture
def webui(platform) -> webuiapi.WebUIApi:
    return webuiapi.WebUIApi(baseurl=f"{platform}/sdapi/v1", username="any-user", password=platform.key)


def job_of(platform, result) -> dict:
    job_id = result.info["genq_job_id"]
    return requests.get(f"{platform}/api/v1/jobs/{job_id}", headers=platform.headers, timeout=10).json()


def test_img2img_starts_from_the_init_image(webui, platform):
    init = noise((64, 64))

    result = webui.img2img(images=[init], prompt="a red barn", denoising_strength=0.5, seed=5, **SMALL)

    assert result.image.size == (64, 64)
    job = job_of(platform, result)
    assert (job["kind"], job["status"], job["params"]["strength"]) == ("generate", "succeeded", 0.5)
    assert job["params"]["init_image"]  # stored as an upload, named by id
    assert "init_images" not in result.parameters or result.parameters["init_images"] is None


def test_the_same_seed_gives_the_same_pixels_and_another_strength_others(webui):
    init = noise((64, 64), seed=1)

    def run(strength: float) -> Image.Image:
        return webui.img2img(images=[init], prompt="a lake", denoising_strength=strength, seed=8, **SMALL).image

    first, again, stronger = run(0.4), run(0.4), run(0.9)

    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(stronger))


def test_inpainting_keeps_the_pixels_outside_the_mask(webui):
    init = noise((64, 64), seed=2)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))  # repaint the left half

    result = webui.img2img(images=[init], mask_image=mask, mask_blur=0, prompt="a wall", seed=3, **SMALL)

    painted, original = pixels(result.image), pixels(init)
    assert np.array_equal(painted[:, 32:], original[:, 32:])
    assert np.abs(painted[:, :32] - original[:, :32]).mean() > 1


def test_a_1024_png_sent_as_base64_is_accepted(platform):
    buffer = io.BytesIO()
    noise((1024, 1024), seed=4).save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 1 << 20  # over the 1 MiB cap of other JSON bodies
    body = {"init_images": [base64.b64encode(buffer.getvalue()).decode()], "prompt": "a field", "seed": 1} | SMALL

    response = requests.post(f"{platform}/sdapi/v1/img2img", json=body, auth=("me", platform.key), timeout=120)

    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0]))).size == (64, 64)


def test_png_info_of_an_image_genq_made(webui, platform):
    made = webui.txt2img(prompt="a lighthouse", negative_prompt="fog", seed=100, sampler_name="DDIM", **SMALL)
    [artifact] = job_of(platform, made)["artifacts"]
    stored = requests.get(artifact["url"], headers=platform.headers, timeout=10)

    result = webui.png_info(made.image)

    # The stored PNG carries A1111's `parameters` chunk itself, next to genq's own.
    chunks = Image.open(io.BytesIO(stored.content)).text
    assert chunks["parameters"] == result.info and chunks["seed"] == "100"
    assert result.info.startswith("a lighthouse\nNegative prompt: fog\nSteps: 3, Sampler: DDIM, CFG scale: 7")
    parameters = result.json["parameters"]
    assert (parameters["Seed"], parameters["Size-1"], parameters["Size-2"]) == ("100", "64", "64")
    assert parameters["Model"] == IMAGE_MODEL and result.json["items"]["seed"] == "100"


def test_schedulers_and_options(webui):
    assert webui.util_get_scheduler_names() == ["automatic"]
    webui.util_set_model(IMAGE_MODEL)
    assert webui.util_get_current_model() == IMAGE_MODEL


def store_lora(compat_settings, settings, models_dir, directory, name: str | None = None, seed: int = 0) -> str:
    """A LoRA adapter of owner `compat` on the tiny model, its weights in storage; its name."""
    weights = save_random_lora(models_dir / IMAGE_MODEL, directory, seed=seed).read_bytes()
    key = f"adapters/webui-{seed}.safetensors"
    make_storage(compat_settings).put(key, weights, "application/octet-stream")
    sessions = make_session_factory(settings.database_url)
    with sessions() as session:
        adapter = insert_adapter(
            session, owner="compat", base_model=IMAGE_MODEL, storage_key=key, data=weights, name=name
        )
        session.commit()
        name = adapter.name
    sessions.kw["bind"].dispose()
    return name


@pytest.fixture
def lora(compat_settings, settings, models_dir, tmp_path) -> str:
    return store_lora(compat_settings, settings, models_dir, tmp_path)


def test_a_lora_in_the_prompt_is_the_owners_adapter_of_that_name(webui, platform, other_key, lora):
    [listed] = webui.get_loras()
    assert listed["name"] == lora
    other = webuiapi.WebUIApi(baseurl=f"{platform}/sdapi/v1", username="x", password=other_key)
    assert other.get_loras() == []

    adapted = webui.txt2img(prompt=f"a boat <lora:{lora}:0.7>", seed=6, **SMALL)
    plain = webui.txt2img(prompt="a boat", seed=6, **SMALL)

    job = job_of(platform, adapted)
    assert job["params"]["prompt"] == "a boat"
    assert job["params"]["adapters"] == [{"id": listed["genq_adapter_id"], "scale": 0.7}]
    assert np.abs(pixels(adapted.image) - pixels(plain.image)).mean() > 1
    with pytest.raises(RuntimeError, match="unknown_lora"):
        other.txt2img(prompt=f"a boat <lora:{lora}:0.7>", seed=6, **SMALL)


def test_two_loras_in_the_prompt_are_both_the_jobs_adapters(
    webui, platform, compat_settings, settings, models_dir, tmp_path, lora
):
    second = store_lora(compat_settings, settings, models_dir, tmp_path / "second", name="second", seed=1)
    ids = {entry["name"]: entry["genq_adapter_id"] for entry in webui.get_loras()}

    both = webui.txt2img(prompt=f"a boat <lora:{lora}:0.7> <lora:{second}:0.5>", seed=6, **SMALL)
    one = webui.txt2img(prompt=f"a boat <lora:{lora}:0.7>", seed=6, **SMALL)

    job = job_of(platform, both)
    assert job["params"]["prompt"] == "a boat"
    expected = [{"id": ids[lora], "scale": 0.7}, {"id": ids[second], "scale": 0.5}]
    assert job["params"]["adapters"] == sorted(expected, key=lambda adapter: adapter["id"])
    assert np.abs(pixels(both.image) - pixels(one.image)).mean() > 1
