"""Dataset uploads as the API receives them: small images whose pixels show their
orientation, the multipart POST, and the objects the upload left in the bucket;
input images of jobs (a smooth ramp, PNG bytes of any image)."""

import io

import boto3
import numpy as np
from PIL import Image


def image_bytes(size: tuple[int, int] = (8, 6), *, format: str = "PNG", mode: str = "RGB", **save) -> bytes:
    """A small image whose pixels tell its left from its right (red left, blue right)."""
    image = Image.new(mode, size, "blue")
    image.paste(Image.new(mode, (size[0] // 2, size[1]), "red"))
    encoded = io.BytesIO()
    image.save(encoded, format=format, **save)
    return encoded.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")
    return encoded.getvalue()


def ramp_image(size: tuple[int, int]) -> Image.Image:
    """A smooth RGB image: unlike noise, the tiny model's VAE keeps much of it."""
    ramp = (np.indices((size[1], size[0])).sum(axis=0) * 2 % 256).astype(np.uint8)
    return Image.fromarray(np.stack([ramp, ramp[::-1], 255 - ramp], axis=-1))


def upload(client, files: list[tuple[str, bytes]], **form):
    """POST /api/v1/datasets with `files` as (filename, bytes), repeated in the field `files`."""
    data = {"files": [(io.BytesIO(content), filename) for filename, content in files], **form}
    return client.post("/api/v1/datasets", data=data, content_type="multipart/form-data")


def bucket_objects(settings, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    bucket = settings.storage_url.removeprefix("s3://")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}
