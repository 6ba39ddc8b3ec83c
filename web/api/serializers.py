"""The API's answers as db/contract models: jobs and artifacts as db.job_json
describes them, with artifact URLs that are presigned S3 URLs when storage gives
one, otherwise the root-relative download route of this API (valid behind any
proxy or host name). Datasets and adapters show what describes them, never their
storage keys. Views send model_dump(mode="json") of these."""

from collections.abc import Sequence

from flask import url_for
from sqlalchemy.orm import Session

from db import contract
from db.job_json import artifact_url_from, describe_artifact, describe_jobs
from db.models import Adapter, Artifact, Dataset, Job, Upload
from db.storage import Storage


def _download_route(artifact: Artifact) -> str:
    return url_for("api.download_artifact", job_id=artifact.job_id, index=artifact.index)


def serialize_artifact(storage: Storage, artifact: Artifact) -> contract.Artifact:
    return describe_artifact(artifact, artifact_url_from(storage, _download_route)(artifact))


def serialize_jobs(session: Session, storage: Storage, jobs: Sequence[Job]) -> list[contract.Job]:
    return describe_jobs(session, jobs, artifact_url_from(storage, _download_route))


def serialize_job(session: Session, storage: Storage, job: Job) -> contract.Job:
    return serialize_jobs(session, storage, [job])[0]


def serialize_dataset(dataset: Dataset) -> contract.Dataset:
    return contract.Dataset.model_validate(dataset)


def serialize_adapter(adapter: Adapter) -> contract.Adapter:
    return contract.Adapter.model_validate(adapter)


def serialize_upload(upload: Upload) -> contract.Upload:
    return contract.Upload.model_validate(upload)
