"""AUTOMATIC1111's upscaling as its clients call it: extra-single-image is an upscale
job of the caller (Lanczos exactly as Pillow resizes), txt2img's hires fix a
generate job with a hires pass, /upscalers lists Lanczos and the registry's
upscaler models, also through the real `webuiapi` client; a body that does not fit
is a 422 naming the field, making no job."""

import base64
import io
import json

import numpy as np
import pytest
import requests
import webuiapi
from PIL import Image

from tests.api.conftest import authenticated_client, close_app
from tests.compat.conftest import make_key
from web import create_app


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def ramp(width: int = 36, height: int = 20) -> Image.Image:
    values = (np.indices((height, width)).sum(axis=0) * 7 % 256).astype(np.uint8)
    return Image.fromarray(np.stack([values, 255 - values, values[::-1]], axis=-1))


def decoded(encoded: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(encoded)))


@pytest.fixture
def upscaler_client(settings, upscaler_models_dir):
    """An in-process app whose registry has the tiny upscaler, and a key of owner `compat`."""
    app = create_app(settings.model_copy(update={"models_dir": upscaler_models_dir}))
    yield authenticated_client(app, make_key(settings, "compat"))
    close_app(app)


@pytest.mark.parametrize("upscaler", ["Lanczos", "None"])
def test_extra_single_image_upscales_with_lanczos_as_an_upscale_job(platform, upscaler):
    source = ramp()
    body = {"image": png_base64(source), "upscaling_resize": 2, "upscaler_1": upscaler, "resize_mode": 0}

    response = requests.post(
        f"{platform}/sdapi/v1/extra-single-image", json=body, headers=platform.headers, timeout=120
    )

    assert response.status_code == 200, response.text
    result = decoded(response.json()["image"])
    expected = source.resize((72, 40), Image.Resampling.LANCZOS)
    assert result.format == "PNG" and np.array_equal(np.asarray(result.convert("RGB")), np.asarray(expected))
    [job] = requests.get(f"{platform}/api/v1/jobs?kind=upscale", headers=platform.headers, timeout=10).json()["jobs"]
    assert (job["status"], job["model"], job["params"]["scale"]) == ("succeeded", "lanczos", 2)


def test_txt2img_with_the_hires_fix_returns_scale_times_the_size(platform):
    body = {
        "prompt": "a lighthouse",
        "width": 64,
        "height": 72,
        "steps": 4,
        "seed": 8,
        "enable_hr": True,
        "hr_scale": 2,
        "hr_upscaler": "Latent",  # webuiapi's default: genq upscales with Lanczos
        "denoising_strength": 0.6,
        "hr_second_pass_steps": 5,
    }

    response = requests.post(f"{platform}/sdapi/v1/txt2img", json=body, headers=platform.headers, timeout=120)

    assert response.status_code == 200, response.text
    assert decoded(response.json()["images"][0]).size == (128, 144)
    job_id = json.loads(response.json()["info"])["genq_job_id"]
    job = requests.get(f"{platform}/api/v1/jobs/{job_id}", headers=platform.headers, timeout=10).json()
    assert job["params"]["hires"] == {"upscaler": "lanczos", "scale": 2, "strength": 0.6, "steps": 5}


def test_the_webuiapi_client_upscales_and_runs_the_hires_fix_unchanged(platform):
    api = webuiapi.WebUIApi(baseurl=f"{platform}/sdapi/v1")
    api.session.headers["Authorization"] = f"Bearer {platform.key}"  # genq's key; its Basic auth is not used here

    upscaled = api.extra_single_image(image=ramp(), upscaler_1="Lanczos", upscaling_resize=2)
    hires = api.txt2img(prompt="a lighthouse", width=64, height=64, steps=3, seed=4, enable_hr=True, hr_scale=1.5)

    assert upscaled.image.size == (72, 40)
    assert np.array_equal(
        np.asarray(upscaled.image.convert("RGB")), np.asarray(ramp().resize((72, 40), Image.Resampling.LANCZOS))
    )
    assert hires.image.size == (96, 96)
    assert hires.info["genq_job_id"]
    assert [upscaler["name"] for upscaler in api.get_upscalers()] == ["Lanczos"]


def test_upscalers_lists_lanczos_and_the_registrys_upscaler_models(upscaler_client):
    listed = upscaler_client.get("/sdapi/v1/upscalers").json

    assert [(upscaler["name"], upscaler["model_name"]) for upscaler in listed] == [
        ("Lanczos", None),
        ("tiny-latent-upscaler", "tiny-latent-upscaler"),
        ("tiny-upscaler", "tiny-upscaler"),
    ]
    assert all(upscaler["model_path"] is None for upscaler in listed)


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("extra-single-image", {"upscaler_1": "ESRGAN_4x"}, "upscaler_1: 'ESRGAN_4x' is not offered"),
        ("extra-single-image", {"upscaling_resize": 5}, "params.scale: "),
        ("extra-single-image", {"upscaler_1": "tiny-upscaler", "upscaling_resize": 3}, "params.scale: "),
        ("extra-single-image", {"resize_mode": 1}, "resize_mode: "),
        ("extra-single-image", {"image": "bm90IGFuIGltYWdl"}, "inline.png: is not a PNG, JPEG or WebP image"),
        ("txt2img", {"enable_hr": True, "hr_upscaler": "R-ESRGAN 4x+"}, "hr_upscaler: 'R-ESRGAN 4x+' is not offered"),
        ("txt2img", {"enable_hr": True, "hr_scale": 20}, "params.hires.scale: "),
        ("txt2img", {"enable_hr": True, "width": 768, "height": 512}, "params.hires: "),
    ],
)
def test_an_upscale_body_that_does_not_fit_is_a_422_naming_the_field(upscaler_client, path, body, detail):
    defaults = (
        {"image": png_base64(ramp())} if path == "extra-single-image" else {"prompt": "a", "width": 64, "height": 64}
    )

    response = upscaler_client.post(f"/sdapi/v1/{path}", json=defaults | body)

    assert response.status_code in (415, 422), response.json
    assert response.json["detail"].startswith(detail)
    assert upscaler_client.get("/api/v1/jobs").json["jobs"] == []
