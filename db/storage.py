"""Object storage for artifacts: one interface, two backends.

`file://DIR` keeps objects under a local directory (the embedded first run; the
web serves them after its owner check); `s3://BUCKET` uses boto3 against AWS,
MinIO or any S3-speaking server and hands out presigned URLs.
"""

import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from db.settings import Settings

# The most keys one S3 DeleteObjects request takes.
S3_DELETE_BATCH = 1000


class ObjectNotFound(LookupError):
    pass


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`, a folder ending in '/';
        returns how many there were."""

    def list_keys(self, prefix: str) -> list[str]:
        """The keys of every object under `prefix`, a folder ending in '/'."""

    def delete_keys(self, keys: Iterable[str]) -> None:
        """Delete these objects; a key with no object is no error."""

    def presigned_url(self, key: str) -> str | None:
        """A URL the client can fetch directly, or None when the web must serve it."""

    def check(self) -> None:
        """Raise if the storage cannot be reached (for /readyz)."""


def job_prefix(job_id: uuid.UUID) -> str:
    """The folder of everything a job's attempts store: their artifacts and its checkpoint."""
    return f"jobs/{job_id}/"


def attempt_prefix(job_id: uuid.UUID, attempt: int) -> str:
    """The folder of one attempt's artifacts (artifact_key)."""
    return f"{job_prefix(job_id)}{attempt}/"


def checkpoint_key(job_id: uuid.UUID) -> str:
    """One checkpoint per job, overwritten by each save: a resume wants only the latest.
    The object is the step (8 bytes, big-endian) followed by the executor's data."""
    return f"{job_prefix(job_id)}checkpoint/latest"


def artifact_key(job_id: uuid.UUID, attempt: int, index: int, extension: str) -> str:
    """Deterministic per attempt and index: a store tried again overwrites, never
    duplicates, and the attempt number fences the objects as it fences the row's
    writes (an attempt that lost its job cannot overwrite the objects of the one
    that took over; what no artifact row references is deleted by the worker when
    the job ends: worker/runner.py)."""
    return f"{attempt_prefix(job_id, attempt)}{index}.{extension}"


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        relative = PurePosixPath(key)
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"invalid object key {key!r}")
        return self.root / relative

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader never sees half an object

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(_folder(prefix))
        if not folder.is_dir():
            return 0
        count = sum(1 for path in folder.rglob("*") if path.is_file())
        shutil.rmtree(folder)
        return count

    def list_keys(self, prefix: str) -> list[str]:
        folder = self._path(_folder(prefix))
        if not folder.is_dir():
            return []
        return sorted(path.relative_to(self.root).as_posix() for path in folder.rglob("*") if path.is_file())

    def delete_keys(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # Emptied folders go too, so a swept job leaves no directory behind.
            for folder in path.parents:
                if folder == self.root or not folder.is_relative_to(self.root):
                    break
                try:
                    folder.rmdir()
                except OSError:
                    break  # not empty (or gone already)

    def presigned_url(self, key: str) -> None:
        return None

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.root.is_dir():
            raise RuntimeError(f"{self.root} is not a directory")


class S3Storage:
    def __init__(self, bucket: str, prefix: str, settings: Settings) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.url_seconds = settings.presigned_url_seconds
        self.client = _s3_client(settings, settings.s3_endpoint_url)
        # Presigning is local arithmetic over the host the browser will ask.
        self.presigning_client = (
            _s3_client(settings, settings.s3_public_endpoint_url) if settings.s3_public_endpoint_url else self.client
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
            return body
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise ObjectNotFound(key) from None
            raise

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(_folder(prefix))
        )
        for page in pages:  # at most 1000 keys a page, as many as one delete_objects takes
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
        return count

    def list_keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(_folder(prefix))
        )
        return [item["Key"].removeprefix(self.prefix) for page in pages for item in page.get("Contents", [])]

    def delete_keys(self, keys: Iterable[str]) -> None:
        objects = [{"Key": self._key(key)} for key in keys]
        for start in range(0, len(objects), S3_DELETE_BATCH):
            answer = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects[start : start + S3_DELETE_BATCH], "Quiet": True}
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise RuntimeError(f"S3 did not delete {first['Key']}: {first.get('Code')} {first.get('Message')}")

    def presigned_url(self, key: str) -> str:
        url: str = self.presigning_client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=self.url_seconds,
        )
        return url

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def _folder(prefix: str) -> str:
    if not prefix.endswith("/") or prefix == "/":
        raise ValueError(f"a prefix to delete must be a folder ending in '/', not {prefix!r}")
    return prefix


def _s3_client(settings: Settings, endpoint_url: str | None):
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=settings.s3_region,
        config=Config(
            signature_version="s3v4",
            # MinIO and most self-hosted S3 servers want bucket names in the path.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


def make_storage(settings: Settings) -> Storage:
    url = settings.storage_url
    if url.startswith("file://"):
        return LocalStorage(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError("GENQ_STORAGE_URL s3://BUCKET[/PREFIX] names no bucket")
        return S3Storage(bucket, f"{prefix.rstrip('/')}/" if prefix else "", settings)
    raise ValueError(f"GENQ_STORAGE_URL must start with file:// or s3://, not {url!r}")
