"""Deleting what an owner stored: a finished job, an adapter, a dataset, an upload.
The objects go first, then the rows (an object is never left that no row names;
a failure between the two leaves a row whose object is gone, which readers
report as gone). A row a queued or running job names is in use and stays. Used
by the API's DELETE routes (owner-scoped: another owner's row is a missing one)
and by the retention sweep (db/retention.py). Functions take a session; the
caller commits.
"""

import uuid
from collections.abc import Callable, Collection, Sequence
from typing import Literal, TypeVar

from sqlalchemy import ColumnElement, SQLColumnExpression, delete, exists, select, union_all, update
from sqlalchemy.orm import Session

from db.adapters import get_adapter
from db.datasets import dataset_prefix, get_dataset
from db.input_images import get_upload
from db.jobs import get_job
from db.kinds import job_kinds
from db.models import ACTIVE_STATUSES, FINISHED_STATUSES, Adapter, Artifact, Dataset, Job, Upload, utcnow
from db.session import rows_changed
from db.storage import Storage, job_prefix

JobDeletion = Literal["deleted", "not_found", "not_finished", "has_adapter"]
Deletion = Literal["deleted", "not_found", "in_use"]
Owned = TypeVar("Owned", Adapter, Dataset, Upload)


def ids_in_use(session: Session, target: type, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these ids of `target` rows (Dataset, Adapter, Upload) that a queued
    or running job's params name (each kind says where: db.kinds.definition)."""
    texts = [str(row_id) for row_id in ids]
    named = [
        select(named_id.label("named_id")).where(
            Job.status.in_(ACTIVE_STATUSES), Job.kind == kind.name, named_id.in_(texts)
        )
        for kind in job_kinds().values()
        for named_id in kind.named_ids(target)
    ]
    if not texts or not named:
        return set()
    return {uuid.UUID(value) for value in session.scalars(union_all(*named))}


def has_adapter(job_id: SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
    """Whether an adapter was trained by the job (it holds the job's weights artifact)."""
    return exists().where(Adapter.training_job_id == job_id)


def delete_job_objects(storage: Storage, job_id: uuid.UUID, keep: Collection[str] = ()) -> int:
    """Delete every object under the job's folder (listed, so objects an attempt
    stored after the job ended are found too) but those in `keep`; how many."""
    doomed = [key for key in storage.list_keys(job_prefix(job_id)) if key not in keep]
    storage.delete_keys(doomed)
    return len(doomed)


def delete_job_rows(session: Session, job_ids: Collection[uuid.UUID]) -> int:
    """Delete these finished jobs' rows (artifacts, events and webhook deliveries go
    with them), but not one an adapter was trained by; how many went."""
    if not job_ids:
        return 0
    return rows_changed(
        session,
        delete(Job)
        .where(Job.id.in_(job_ids), Job.status.in_(FINISHED_STATUSES), ~has_adapter(Job.id))
        .execution_options(synchronize_session=False),
    )


def delete_finished_job(session: Session, storage: Storage, job_id: uuid.UUID, *, owner: str) -> JobDeletion:
    """The owner's finished job, its objects and its rows. Not one that is queued or
    running (cancel it first), nor one whose trained adapter exists (delete that first)."""
    job = get_job(session, job_id, owner=owner)
    if job is None:
        return "not_found"
    if not job.is_finished:
        return "not_finished"
    if session.scalar(select(Job.id).where(Job.id == job.id, has_adapter(Job.id))) is not None:
        return "has_adapter"
    delete_job_objects(storage, job.id)
    delete_job_rows(session, [job.id])
    return "deleted"


def delete_adapters(session: Session, storage: Storage, adapters: Sequence[Adapter]) -> None:
    """These adapters' weights, then their rows; their training jobs stay, the
    weights artifacts expired."""
    storage.delete_keys([adapter.artifact.storage_key for adapter in adapters])
    session.execute(
        update(Artifact)
        .where(Artifact.id.in_([adapter.artifact_id for adapter in adapters]))
        .values(expired_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    ids = [adapter.id for adapter in adapters]
    session.execute(delete(Adapter).where(Adapter.id.in_(ids)).execution_options(synchronize_session=False))


def delete_datasets(session: Session, storage: Storage, datasets: Sequence[Dataset]) -> None:
    """These datasets' objects (everything under their folders), then their rows."""
    for dataset in datasets:
        storage.delete_keys(storage.list_keys(dataset_prefix(dataset.id)))
    ids = [dataset.id for dataset in datasets]
    session.execute(delete(Dataset).where(Dataset.id.in_(ids)).execution_options(synchronize_session=False))


def delete_uploads(session: Session, storage: Storage, uploads: Sequence[Upload]) -> None:
    """These uploads' objects, then their rows."""
    storage.delete_keys([upload.storage_key for upload in uploads])
    ids = [upload.id for upload in uploads]
    session.execute(delete(Upload).where(Upload.id.in_(ids)).execution_options(synchronize_session=False))


def delete_adapter(session: Session, storage: Storage, adapter_id: uuid.UUID, *, owner: str) -> Deletion:
    return _delete_unless_in_use(session, storage, get_adapter(session, adapter_id, owner=owner), delete_adapters)


def delete_dataset(session: Session, storage: Storage, dataset_id: uuid.UUID, *, owner: str) -> Deletion:
    return _delete_unless_in_use(session, storage, get_dataset(session, dataset_id, owner=owner), delete_datasets)


def delete_upload(session: Session, storage: Storage, upload_id: uuid.UUID, *, owner: str) -> Deletion:
    return _delete_unless_in_use(session, storage, get_upload(session, upload_id, owner=owner), delete_uploads)


def _delete_unless_in_use(
    session: Session,
    storage: Storage,
    row: Owned | None,
    delete_rows: Callable[[Session, Storage, Sequence[Owned]], None],
) -> Deletion:
    """The owner's row (None: missing or another owner's), unless a job in flight names it."""
    if row is None:
        return "not_found"
    if ids_in_use(session, type(row), [row.id]):
        return "in_use"
    delete_rows(session, storage, [row])
    return "deleted"
