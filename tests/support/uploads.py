"""Dataset uploads as the API receives them: small images whose pixels show their
orientation, the multipart POST, and the objects the upload left in the bucket."""

import io

import boto3
from PIL import Image


def image_bytes(size: tuple[int, int] = (8, 6), *, format: str = "PNG", mode: str = "RGB", **save) -> bytes:
    """A small image whose pixels tell its left from its right (red left, blue right)."""
    image = Image.new(mode, size, "blue")
    image.paste(Image.new(mode, (size[0] // 2, size[1]), "red"))
    encoded = io.BytesIO()
    image.save(encoded, format=format, **save)
    return encoded.getvalue()


def upload(client, files: list[tuple[str, bytes]], **form):
    """POST /api/v1/datasets with `files` as (filename, bytes), repeated in the field `files`."""
    data = {"files": [(io.BytesIO(content), filename) for filename, content in files], **form}
    return client.post("/api/v1/datasets", data=data, content_type="multipart/form-data")


def bucket_objects(settings, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
    bucket = settings.storage_url.removeprefix("s3://")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}
