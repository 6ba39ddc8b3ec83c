"""The API's JSON for jobs and artifacts: db.job_json's shape, with artifact URLs
that are presigned S3 URLs when storage gives one, otherwise the root-relative
download route of this API (valid behind any proxy or host name). Datasets and
adapters show what describes them, never their storage keys."""

from collections.abc import Sequence
from typing import Any

from flask import url_for
from sqlalchemy.orm import Session

from db.job_json import artifact_json, artifact_url_from, isoformat, jobs_json
from db.models import Adapter, Artifact, Dataset, Job, Upload
from db.storage import Storage


def _download_route(artifact: Artifact) -> str:
    return url_for("api.download_artifact", job_id=artifact.job_id, index=artifact.index)


def serialize_artifact(storage: Storage, artifact: Artifact) -> dict[str, Any]:
    return artifact_json(artifact, artifact_url_from(storage, _download_route)(artifact))


def serialize_jobs(session: Session, storage: Storage, jobs: Sequence[Job]) -> list[dict[str, Any]]:
    return jobs_json(session, jobs, artifact_url_from(storage, _download_route))


def serialize_job(session: Session, storage: Storage, job: Job) -> dict[str, Any]:
    return serialize_jobs(session, storage, [job])[0]


def serialize_dataset(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": str(dataset.id),
        "name": dataset.name,
        "files": [
            {
                "index": file.index,
                "filename": file.filename,
                "width": file.width,
                "height": file.height,
                "bytes": file.bytes,
                "content_type": file.content_type,
                "caption": file.caption,
            }
            for file in dataset.files
        ],
        "created_at": isoformat(dataset.created_at),
    }


def serialize_adapter(adapter: Adapter) -> dict[str, Any]:
    return {
        "id": str(adapter.id),
        "name": adapter.name,
        "base_model": adapter.base_model,
        "method": adapter.method,
        "rank": adapter.rank,
        "training_job_id": str(adapter.training_job_id),
        "created_at": isoformat(adapter.created_at),
    }


def serialize_upload(upload: Upload) -> dict[str, Any]:
    return {
        "id": str(upload.id),
        "content_type": upload.content_type,
        "width": upload.width,
        "height": upload.height,
        "bytes": upload.bytes,
        "sha256": upload.sha256,
        "created_at": isoformat(upload.created_at),
    }
