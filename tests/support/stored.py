"""Rows as finished jobs, uploads and datasets leave them, with their objects in
storage, made at a chosen age (for retention), and what storage holds."""

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.datasets import create_dataset
from db.input_images import add_upload
from db.models import Adapter, Artifact, Dataset, DatasetFile, Job, Upload, utcnow
from db.storage import Storage, artifact_key, checkpoint_key
from db.uploads import PreparedImage

TOP_FOLDERS = ("jobs/", "uploads/", "datasets/")


def stored_keys(storage: Storage) -> set[str]:
    """Every object storage holds (under the folders genq writes)."""
    return {key for folder in TOP_FOLDERS for key in storage.list_keys(folder)}


def finished_job(
    session: Session,
    storage: Storage,
    *,
    owner: str = "alice",
    finished_ago: timedelta,
    kind: str = "generate",
    status: str = "succeeded",
    images: int = 1,
    checkpoint: bool = False,
    late_object: bool = False,
    params: dict | None = None,
) -> Job:
    """A committed finished job whose last attempt (2) stored `images` artifacts; with
    its checkpoint, and with an object its lost attempt 3 stored after it ended."""
    finished_at = utcnow() - finished_ago
    job = Job(
        id=uuid.uuid4(),
        owner=owner,
        kind=kind,
        model="tiny-sd",
        status=status,
        params=params or {"prompt": "a lighthouse"},
        attempt=2,
        created_at=finished_at - timedelta(minutes=1),
        started_at=finished_at - timedelta(seconds=30),
        finished_at=finished_at,
    )
    for index in range(images if status == "succeeded" else 0):
        key = artifact_key(job.id, 2, index, "png")
        storage.put(key, b"png", "image/png")
        job.artifacts.append(
            Artifact(index=index, kind="image", storage_key=key, content_type="image/png", bytes=3, sha256="0" * 64)
        )
    if checkpoint:
        storage.put(checkpoint_key(job.id), b"state", "application/octet-stream")
    if late_object:
        storage.put(artifact_key(job.id, 3, 0, "png"), b"late", "image/png")
    session.add(job)
    session.commit()
    return job


def trained_adapter(session: Session, storage: Storage, *, owner: str = "alice", finished_ago: timedelta) -> Adapter:
    """A finetune job finished that long ago (a validation image, a checkpoint) and
    the adapter it trained, whose weights are its artifact 0."""
    job = finished_job(
        session, storage, owner=owner, finished_ago=finished_ago, kind="finetune", images=2, checkpoint=True
    )
    weights = job.artifacts[0]
    weights.kind = "adapter"
    adapter = Adapter(owner=owner, name="lora", base_model="tiny-sd", rank=4, training_job_id=job.id, artifact=weights)
    session.add(adapter)
    session.commit()
    return adapter


def image(name: str = "a.png") -> PreparedImage:
    return PreparedImage(
        filename=name, data=b"png of " + name.encode(), width=4, height=3, sha256="0" * 64, caption=None
    )


def stored_upload(session: Session, storage: Storage, *, owner: str = "alice", made_ago: timedelta) -> Upload:
    upload = add_upload(session, storage, owner=owner, image=image())
    upload.created_at = utcnow() - made_ago
    session.commit()
    return upload


def stored_dataset(session: Session, storage: Storage, *, owner: str = "alice", made_ago: timedelta) -> Dataset:
    dataset = create_dataset(session, storage, owner=owner, name=None, images=[image("a.png"), image("b.png")])
    dataset.created_at = utcnow() - made_ago
    session.commit()
    return dataset


def referenced_keys(session: Session) -> set[str]:
    """The keys of every object a row names: unexpired artifacts, uploads, dataset files."""
    return (
        set(session.scalars(select(Artifact.storage_key).where(Artifact.expired_at.is_(None))))
        | set(session.scalars(select(Upload.storage_key)))
        | set(session.scalars(select(DatasetFile.storage_key)))
    )
