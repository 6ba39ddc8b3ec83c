"""The API's JSON for jobs and artifacts: db.job_json's shape, with artifact URLs
that are presigned S3 URLs when storage gives one, otherwise the root-relative
download route of this API (valid behind any proxy or host name)."""

from typing import Any

from flask import url_for
from sqlalchemy.orm import Session

from db.job_json import artifact_json, artifact_url_from, job_json
from db.models import Artifact, Job
from db.storage import Storage


def _download_route(artifact: Artifact) -> str:
    return url_for("api.download_artifact", job_id=artifact.job_id, index=artifact.index)


def serialize_artifact(storage: Storage, artifact: Artifact) -> dict[str, Any]:
    return artifact_json(artifact, artifact_url_from(storage, _download_route)(artifact))


def serialize_job(session: Session, storage: Storage, job: Job) -> dict[str, Any]:
    return job_json(session, job, artifact_url_from(storage, _download_route))
