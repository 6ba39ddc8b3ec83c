"""Inpainting on the production shape: the image is uploaded over HTTP, the mask
sent inline as a data URI, a real worker repaints under the mask, and the PNG in
the bucket keeps every pixel of the upload outside it."""

import base64
import io

import numpy as np
import requests
from PIL import Image, ImageFilter

from tests.support.http import download_image, pixels, submit, wait_until_finished


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_uploaded_image_is_repainted_under_its_mask_only(platform):
    ramp = (np.indices((64, 96)).sum(axis=0) * 2 % 256).astype(np.uint8)
    source = Image.fromarray(np.stack([ramp, 255 - ramp, ramp[::-1]], axis=-1))
    mask = Image.new("L", source.size, 0)
    mask.paste(255, (24, 16, 72, 48))
    response = requests.post(
        f"{platform}/api/v1/uploads", files={"file": ("source.png", png(source))}, headers=platform.headers, timeout=10
    )
    assert response.status_code == 201, response.text

    job = submit(
        platform,
        {
            "prompt": "a boat",
            "steps": 6,
            "seed": 5,
            "init_image": response.json()["id"],
            "mask_image": "data:image/png;base64," + base64.b64encode(png(mask)).decode(),
            "mask_blur": 2,
        },
    )
    done = wait_until_finished(platform, job["id"])

    assert done["status"] == "succeeded", done["error"]
    result = pixels(download_image(platform, done["artifacts"][0])).astype(int)
    assert result.shape[:2] == (64, 96)  # the upload's size, as no size was given
    repainted = np.asarray(mask.filter(ImageFilter.GaussianBlur(2))) > 0
    difference = np.abs(result - np.asarray(source, dtype=int)).max(axis=-1)
    assert (difference[~repainted] == 0).all()
    assert difference[16:48, 24:72].mean() > 5
