"""OpenAI's image edits and variations with the real `openai` SDK against a running
genq: an edit repaints the mask's fully transparent pixels and keeps the others
exactly, a variation starts from the image alone; bad files come back as the
SDK's own errors in OpenAI's shape, with nothing made."""

import base64
import io

import numpy as np
import openai
import pytest
import requests
from PIL import Image

from tests.support.http import pixels
from tests.support.uploads import png_bytes, ramp_image

SIZE = 64


def photo() -> Image.Image:
    return ramp_image((SIZE, SIZE))


def left_half_transparent() -> Image.Image:
    mask = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, SIZE // 2, SIZE))
    return mask


def decoded(item) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(item.b64_json)))


def owner_jobs(platform) -> list[dict]:
    return requests.get(f"{platform}/api/v1/jobs", headers=platform.headers, timeout=10).json()["jobs"]


def test_an_edit_repaints_the_masks_transparent_pixels_only(openai_client, platform):
    result = openai_client.images.edit(
        image=("photo.png", png_bytes(photo()), "image/png"),
        mask=("mask.png", png_bytes(left_half_transparent()), "image/png"),
        prompt="a red door",
        response_format="b64_json",
        extra_body={"seed": 4, "steps": 4},
    )

    [item] = result.data
    edited, original = pixels(decoded(item)), pixels(photo())
    # Past the mask's blurred edge (4 px by default) the photo's own pixels.
    assert np.array_equal(edited[:, SIZE // 2 + 12 :], original[:, SIZE // 2 + 12 :])
    assert np.abs(edited[:, : SIZE // 2] - original[:, : SIZE // 2]).mean() > 1
    [job] = owner_jobs(platform)
    assert job["params"]["prompt"] == "a red door" and job["params"]["mask_image"] and job["params"]["init_image"]


def test_an_edit_without_a_mask_repaints_the_images_own_transparent_pixels(openai_client):
    image = photo().convert("RGBA")
    image.paste((0, 0, 0, 0), (0, 0, SIZE // 2, SIZE))

    result = openai_client.images.edit(
        image=("photo.png", png_bytes(image), "image/png"),
        prompt="a window",
        response_format="b64_json",
        extra_body={"seed": 4, "steps": 4},
    )

    edited, original = pixels(decoded(result.data[0])), pixels(image)
    assert np.array_equal(edited[:, SIZE // 2 + 12 :], original[:, SIZE // 2 + 12 :])


def test_variations_start_from_the_image_alone(openai_client, platform):
    result = openai_client.images.create_variation(
        image=("photo.png", png_bytes(photo()), "image/png"), n=2, size="64x64", response_format="b64_json"
    )

    assert [decoded(item).size for item in result.data] == [(SIZE, SIZE)] * 2
    [job] = owner_jobs(platform)
    assert (job["params"]["prompt"], job["params"]["num_images"], job["params"]["strength"]) == ("", 2, 0.75)


def test_a_variation_as_a_url(openai_client):
    result = openai_client.images.create_variation(image=("photo.png", png_bytes(photo()), "image/png"), size="64x64")

    downloaded = requests.get(result.data[0].url, timeout=10)
    assert Image.open(io.BytesIO(downloaded.content)).size == (SIZE, SIZE)


@pytest.mark.parametrize(
    ("files", "status", "code", "param"),
    [
        ({"image": png_bytes(photo()), "mask": png_bytes(photo())}, 422, "validation_error", "mask"),
        ({"image": b"not an image"}, 415, "unsupported_image_format", "image"),
        ({"mask": png_bytes(left_half_transparent())}, 422, "validation_error", "image"),
    ],
    ids=["mask-without-alpha", "not-an-image", "no-image"],
)
def test_bad_files_are_openai_errors_naming_the_field(platform, files, status, code, param):
    response = requests.post(
        f"{platform}/v1/images/edits",
        files={name: (f"{name}.png", data, "image/png") for name, data in files.items()},
        data={"prompt": "a door"},
        headers=platform.headers,
        timeout=30,
    )

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    assert owner_jobs(platform) == []


def test_the_sdk_raises_its_own_error_for_a_bad_size(openai_client, platform):
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        openai_client.images.create_variation(image=("photo.png", png_bytes(photo()), "image/png"), size="huge")

    assert raised.value.body["param"] == "size"
    assert owner_jobs(platform) == []
