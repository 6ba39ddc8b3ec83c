"""AUTOMATIC1111-style calls as its clients send them (plain JSON over HTTP) to a
running genq: txt2img returns base64 PNGs, progress shows the caller's running
job, interrupt cancels the caller's job and nobody else's."""

import base64
import io
import json
import threading

import requests
from PIL import Image

from tests.compat.conftest import IMAGE_MODEL
from tests.support.http import auth_headers
from tests.support.waiting import wait_for

# Long enough on the tiny model to be seen running (and interrupted).
SLOW = {"prompt": "a long walk on the beach", "width": 64, "height": 64, "steps": 150, "seed": 9}


def txt2img(platform, body: dict, key: str | None = None) -> requests.Response:
    return requests.post(
        f"{platform}/sdapi/v1/txt2img", json=body, headers=auth_headers(key or platform.key), timeout=120
    )


def in_background(call) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    return thread, result


def progress(platform, key: str | None = None) -> dict:
    return requests.get(f"{platform}/sdapi/v1/progress", headers=auth_headers(key or platform.key), timeout=10).json()


def test_txt2img_batch_size_2_returns_two_images(platform):
    body = {
        "prompt": "a lighthouse",
        "negative_prompt": "fog",
        "width": 64,
        "height": 72,
        "steps": 3,
        "cfg_scale": 6,
        "seed": 100,
        "batch_size": 2,
        "sampler_name": "Euler a",
    }

    response = txt2img(platform, body)

    assert response.status_code == 200
    answer = response.json()
    images = [Image.open(io.BytesIO(base64.b64decode(image))) for image in answer["images"]]
    assert [(image.format, image.size) for image in images] == [("PNG", (64, 72))] * 2
    info = json.loads(answer["info"])
    assert info["all_seeds"] == [100, 101] and info["sd_model_name"] == IMAGE_MODEL
    assert answer["parameters"]["prompt"] == "a lighthouse" and answer["parameters"]["seed"] == 100
    job = requests.get(f"{platform}/api/v1/jobs/{info['genq_job_id']}", headers=platform.headers, timeout=10).json()
    assert job["params"]["scheduler"] == "euler_a" and job["params"]["guidance_scale"] == 6


def test_progress_shows_the_callers_running_job(platform):
    assert progress(platform)["state"]["job"] == ""  # nothing running yet
    call, _ = in_background(lambda: txt2img(platform, SLOW))

    def previewed() -> dict | None:
        now = progress(platform)
        return now if now["state"]["sampling_step"] > 0 and now["current_image"] else None

    now = wait_for(previewed, timeout=60, what="the txt2img job to make progress and show a preview")
    assert 0 < now["progress"] < 1 and now["state"]["sampling_steps"] == 150
    # The image in plain base64, as A1111 sends it (WebP: Pillow opens it as a PNG).
    preview = Image.open(io.BytesIO(base64.b64decode(now["current_image"])))
    assert (preview.format, preview.size) == ("WEBP", (64, 64))
    requests.post(f"{platform}/sdapi/v1/interrupt", headers=platform.headers, timeout=10)
    assert progress(platform)["current_image"] is None  # none once it is being canceled
    call.join(timeout=60)


def test_interrupt_cancels_only_the_callers_job(platform, other_key):
    mine, my_result = in_background(lambda: txt2img(platform, SLOW))
    wait_for(lambda: progress(platform)["state"]["job"], timeout=30, what="my job to be submitted")
    theirs, their_result = in_background(lambda: txt2img(platform, SLOW | {"steps": 5}, other_key))
    wait_for(lambda: progress(platform, other_key)["state"]["job"], timeout=30, what="their job to be submitted")

    assert requests.post(f"{platform}/sdapi/v1/interrupt", headers=platform.headers, timeout=10).status_code == 200
    mine.join(timeout=60)
    theirs.join(timeout=120)

    [my_response], [their_response] = my_result, their_result
    assert my_response.status_code == 409 and my_response.json()["error"] == "job_canceled"
    assert their_response.status_code == 200 and len(their_response.json()["images"]) == 1


def test_models_and_samplers_lists(platform):
    models = requests.get(f"{platform}/sdapi/v1/sd-models", headers=platform.headers, timeout=10).json()
    samplers = requests.get(f"{platform}/sdapi/v1/samplers", headers=platform.headers, timeout=10).json()

    assert [model["model_name"] for model in models] == [IMAGE_MODEL]  # image models only
    assert {"Euler", "Euler a", "DDIM", "DPM++ 2M"} <= {sampler["name"] for sampler in samplers}


def test_errors_come_in_a1111_shape(platform):
    unknown = txt2img(platform, {"prompt": "x", "sampler_name": "LMS Weird"})
    unauthorized = requests.post(f"{platform}/sdapi/v1/txt2img", json={"prompt": "x"}, timeout=10)

    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_sampler"
    assert unauthorized.status_code == 401 and unauthorized.json()["error"] == "unauthorized"
    assert "detail" in unauthorized.json()
