"""What AUTOMATIC1111's API answers before any job runs, in-process: HTTP Basic
with the key as password (on /sdapi/v1 only), each owner's own options and the
model their calls then run on, png-info of A1111's infotext, the scheduler list,
and img2img, LoRA tags, png-info and options bodies that do not fit, each a 4xx
in A1111's shape with nothing stored."""

import base64
import io

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from db.infotext import format_infotext, parse_infotext
from tests.api.conftest import close_app
from tests.compat.conftest import IMAGE_MODEL, make_key
from web import create_app

SECOND_MODEL = "tiny-sd-b"


def basic(key: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


def png_b64(image: Image.Image, **text: str) -> str:
    info = PngInfo()
    for name, value in text.items():
        info.add_text(name, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def two_models_app(settings, models_dir, tmp_path):
    """An app whose models directory has a second image model (the tiny one again)."""
    root = tmp_path / "models"
    root.mkdir()
    (root / IMAGE_MODEL).symlink_to(models_dir / IMAGE_MODEL)
    (root / SECOND_MODEL).symlink_to(models_dir / IMAGE_MODEL)
    # No worker runs here: a call's job is made, and the wait for it ends at once.
    app = create_app(settings.model_copy(update={"models_dir": root, "compat_wait_seconds": 0.2}))
    yield app
    close_app(app)


def test_basic_auth_with_the_key_as_password_is_accepted_on_sdapi_only(settings, in_process_client):
    client = in_process_client.application.test_client()
    key = make_key(settings, "basic-owner")

    assert client.get("/sdapi/v1/samplers", headers=basic(key)).status_code == 200
    wrong = client.get("/sdapi/v1/samplers", headers=basic("not-a-key"))
    assert wrong.status_code == 401 and wrong.json["error"] == "unauthorized"
    assert "Basic" in wrong.headers["WWW-Authenticate"]
    assert client.get("/api/v1/jobs", headers=basic(key)).status_code == 401
    assert client.get("/v1/models", headers=basic(key)).status_code == 401


def test_each_owner_has_their_own_checkpoint_option(settings, two_models_app):
    alice = {"Authorization": f"Bearer {make_key(settings, 'alice')}"}
    bob = {"Authorization": f"Bearer {make_key(settings, 'bob')}"}
    client = two_models_app.test_client()

    chosen = client.post(
        "/sdapi/v1/options", json={"sd_model_checkpoint": SECOND_MODEL, "CLIP_stop_at_last_layers": 2}, headers=alice
    )

    assert chosen.status_code == 200 and chosen.json is None
    assert client.get("/sdapi/v1/options", headers=alice).json["sd_model_checkpoint"] == SECOND_MODEL
    assert client.get("/sdapi/v1/options", headers=bob).json["sd_model_checkpoint"] == IMAGE_MODEL
    # The owner's calls run on their model; the other owner's on the default.
    for headers in (alice, bob):
        waited = client.post("/sdapi/v1/txt2img", json={"prompt": "a boat", "width": 64, "height": 64}, headers=headers)
        assert waited.json["error"] == "job_wait_timeout"
    [alice_job] = client.get("/api/v1/jobs", headers=alice).json["jobs"]
    [bob_job] = client.get("/api/v1/jobs", headers=bob).json["jobs"]
    assert (alice_job["model"], bob_job["model"]) == (SECOND_MODEL, IMAGE_MODEL)
    # A call's own override_settings still wins.
    override = {
        "prompt": "a boat",
        "width": 64,
        "height": 64,
        "override_settings": {"sd_model_checkpoint": IMAGE_MODEL},
    }
    client.post("/sdapi/v1/txt2img", json=override, headers=alice)
    assert client.get("/api/v1/jobs", headers=alice).json["jobs"][0]["model"] == IMAGE_MODEL


def test_choosing_the_checkpoint_again_replaces_it(settings, two_models_app):
    alice = {"Authorization": f"Bearer {make_key(settings, 'alice')}"}
    client = two_models_app.test_client()

    for model in (SECOND_MODEL, IMAGE_MODEL):
        assert client.post("/sdapi/v1/options", json={"sd_model_checkpoint": model}, headers=alice).status_code == 200

    assert client.get("/sdapi/v1/options", headers=alice).json["sd_model_checkpoint"] == IMAGE_MODEL


def test_png_info_reads_a1111s_parameters_chunk():
    text = format_infotext(
        "a cat, sitting", "blurry", {"Steps": 20, "Sampler": "Euler a", "Seed": 7, "Size": "512x768", "Model": "x: y"}
    )

    assert (
        text
        == 'a cat, sitting\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, Seed: 7, Size: 512x768, Model: "x: y"'
    )
    assert parse_infotext(text) == {
        "Prompt": "a cat, sitting",
        "Negative prompt": "blurry",
        "Steps": "20",
        "Sampler": "Euler a",
        "Seed": "7",
        "Size-1": "512",
        "Size-2": "768",
        "Model": "x: y",
    }


def test_png_info_of_an_image_with_a_parameters_chunk_answers_it(in_process_client):
    infotext = "a fox\nSteps: 5, Sampler: DDIM, CFG scale: 7, Seed: 3, Size: 8x8"
    image = png_b64(Image.new("RGB", (8, 8)), parameters=infotext, Software="x")

    answer = in_process_client.post("/sdapi/v1/png-info", json={"image": f"data:image/png;base64,{image}"}).json

    assert answer["info"] == infotext and answer["items"] == {"Software": "x"}
    assert answer["parameters"]["Sampler"] == "DDIM" and answer["parameters"]["Prompt"] == "a fox"


def test_png_info_of_an_image_without_text_is_empty(in_process_client):
    answer = in_process_client.post("/sdapi/v1/png-info", json={"image": png_b64(Image.new("RGB", (8, 8)))}).json

    assert answer == {"info": "", "items": {}, "parameters": {}}


def test_schedulers_list_the_models_own(in_process_client):
    assert [entry["name"] for entry in in_process_client.get("/sdapi/v1/schedulers").json] == ["automatic"]


TINY_PNG = png_b64(Image.new("RGB", (64, 64), "red"))


@pytest.mark.parametrize(
    ("path", "body", "status", "error", "detail"),
    [
        ("/sdapi/v1/img2img", {"prompt": "x"}, 422, "validation_error", "init_images: Field required"),
        ("/sdapi/v1/img2img", {"init_images": []}, 422, "validation_error", "init_images: must be a list of one"),
        ("/sdapi/v1/img2img", {"init_images": [TINY_PNG, TINY_PNG]}, 422, "validation_error", "init_images: "),
        (
            "/sdapi/v1/img2img",
            {"init_images": [TINY_PNG], "denoising_strength": 0},
            422,
            "validation_error",
            "params.strength: ",
        ),
        (
            "/sdapi/v1/img2img",
            {"init_images": [TINY_PNG], "denoising_strength": 1.5},
            422,
            "validation_error",
            "params.strength: ",
        ),
        ("/sdapi/v1/img2img", {"init_images": ["bm90IGFuIGltYWdl"]}, 415, "unsupported_image_format", ""),
        ("/sdapi/v1/img2img", {"init_images": ["%%%"]}, 422, "invalid_image", "params.init_image: not base64"),
        (
            "/sdapi/v1/img2img",
            {"init_images": [TINY_PNG], "mask": 5},
            422,
            "validation_error",
            "mask: must be a base64 image",
        ),
        (
            "/sdapi/v1/img2img",
            {"init_images": [TINY_PNG], "inpainting_mask_invert": 1},
            422,
            "validation_error",
            "inpainting_mask_invert: must be 0",
        ),
        (
            "/sdapi/v1/img2img",
            {"init_images": [TINY_PNG], "prompt": "<lora:nobody:1>"},
            422,
            "unknown_lora",
            "prompt: no LoRA named 'nobody'",
        ),
        ("/sdapi/v1/txt2img", {"prompt": "a <lora:a:heavy>"}, 422, "validation_error", "prompt: the weight"),
        ("/sdapi/v1/png-info", {"image": "bm90IGFuIGltYWdl"}, 422, "invalid_image", "image: is not a PNG"),
        ("/sdapi/v1/png-info", {}, 422, "validation_error", "image: Field required"),
        (
            "/sdapi/v1/options",
            {"sd_model_checkpoint": "no-such-model"},
            422,
            "unknown_model",
            "sd_model_checkpoint: no image model",
        ),
        (
            "/sdapi/v1/options",
            {"sd_model_checkpoint": 5},
            422,
            "validation_error",
            "sd_model_checkpoint: must be a model name",
        ),
    ],
)
def test_a_body_that_does_not_fit_is_a_4xx_in_a1111_shape_and_stores_nothing(
    in_process_client, settings, path, body, status, error, detail
):
    response = in_process_client.post(path, json=body)

    assert response.status_code == status, response.json
    assert set(response.json) == {"error", "detail"} and response.json["error"] == error
    assert response.json["detail"].startswith(detail)
    assert in_process_client.get("/api/v1/jobs").json["jobs"] == []
    assert in_process_client.get("/sdapi/v1/options").json["sd_model_checkpoint"] == IMAGE_MODEL
