"""Datasets: images (re-encoded at upload, db/uploads.py) and captions an owner
trains on. Objects go to storage first, then the rows; the caller commits once.
Every read is scoped by owner: another owner's dataset is a missing one.
"""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from db.models import Dataset, DatasetFile
from db.paging import newest_first
from db.storage import Storage
from db.uploads import STORED_CONTENT_TYPE, STORED_EXTENSION, PreparedImage


def dataset_prefix(dataset_id: uuid.UUID) -> str:
    """The folder of a dataset's images."""
    return f"datasets/{dataset_id}/"


def dataset_file_key(dataset_id: uuid.UUID, index: int) -> str:
    return f"{dataset_prefix(dataset_id)}{index}.{STORED_EXTENSION}"


def create_dataset(
    session: Session, storage: Storage, *, owner: str, name: str | None, images: list[PreparedImage]
) -> Dataset:
    """Store the images' objects, then add the rows (flushed, not committed). Objects
    of a dataset whose commit fails stay unreferenced under its fresh id."""
    dataset_id = uuid.uuid4()
    files = []
    for index, image in enumerate(images):
        key = dataset_file_key(dataset_id, index)
        storage.put(key, image.data, STORED_CONTENT_TYPE)
        files.append(
            DatasetFile(
                index=index,
                filename=image.filename,
                storage_key=key,
                content_type=STORED_CONTENT_TYPE,
                bytes=len(image.data),
                sha256=image.sha256,
                width=image.width,
                height=image.height,
                caption=image.caption,
            )
        )
    dataset = Dataset(id=dataset_id, owner=owner, name=name, total_bytes=sum(file.bytes for file in files), files=files)
    session.add(dataset)
    session.flush()
    return dataset


def get_dataset(session: Session, dataset_id: uuid.UUID, *, owner: str) -> Dataset | None:
    """The dataset with its files, or None when it does not exist or is another owner's."""
    query = select(Dataset).where(Dataset.id == dataset_id, Dataset.owner == owner).options(selectinload(Dataset.files))
    return session.scalars(query).one_or_none()


def list_datasets(
    session: Session, *, owner: str, before: tuple[datetime, uuid.UUID] | None = None, limit: int = 20
) -> list[Dataset]:
    """Newest first; `before` is the (created_at, id) of the last dataset of the previous page."""
    query = select(Dataset).where(Dataset.owner == owner).options(selectinload(Dataset.files))
    return list(session.scalars(newest_first(query, Dataset, before=before, limit=limit)))
