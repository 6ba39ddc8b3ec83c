"""An adapter row for tests that need one without training it: the row (with the
succeeded finetune job and the `adapter` artifact it needs) as a finished
finetune job leaves it. The caller puts the weights in storage, if it needs them."""

import hashlib
import uuid

from sqlalchemy.orm import Session

from db.models import Adapter, Artifact, Job


def insert_adapter(
    session: Session,
    *,
    owner: str,
    base_model: str,
    storage_key: str,
    data: bytes = b"",
    rank: int = 4,
    name: str | None = None,
) -> Adapter:
    """A committed adapter of `owner` for `base_model`, its weights (`data`) at `storage_key`."""
    job = Job(
        owner=owner, kind="finetune", model=base_model, status="succeeded", params={"dataset_id": str(uuid.uuid4())}
    )
    artifact = Artifact(
        job=job,
        index=0,
        kind="adapter",
        storage_key=storage_key,
        content_type="application/octet-stream",
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    session.add(artifact)
    session.flush()  # gives the job its id
    adapter = Adapter(
        owner=owner,
        name=name or f"adapter of {owner}",
        base_model=base_model,
        rank=rank,
        training_job_id=job.id,
        artifact=artifact,
    )
    session.add(adapter)
    session.commit()
    return adapter
