"""Images to train on in tests: smooth colour gradients, different per index, of a
size that the training resolution must resize and crop."""

import io

import numpy as np
from PIL import Image


def training_pngs(count: int = 4, size: tuple[int, int] = (96, 72)) -> list[bytes]:
    width, height = size
    pngs = []
    for index in range(count):
        y, x = np.mgrid[0:height, 0:width]
        rgb = np.stack([x * 2 + index * 40, y * 3, x + y + index * 60], axis=-1) % 256
        buffer = io.BytesIO()
        Image.fromarray(rgb.astype(np.uint8)).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    return pngs
