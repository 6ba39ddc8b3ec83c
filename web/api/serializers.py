"""The JSON a client sees for a job and its artifacts, built from the row.

Artifact URLs are presigned S3 URLs when storage gives one, otherwise the
root-relative download route of this API (valid behind any proxy or host name).
"""

from datetime import UTC, datetime
from typing import Any

from flask import url_for
from sqlalchemy.orm import Session

from db.jobs import queue_position
from db.models import Artifact, Job
from db.storage import Storage


def isoformat(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def artifact_url(storage: Storage, artifact: Artifact) -> str:
    presigned = storage.presigned_url(artifact.storage_key)
    if presigned is not None:
        return presigned
    return url_for("api.download_artifact", job_id=artifact.job_id, index=artifact.index)


def serialize_artifact(storage: Storage, artifact: Artifact) -> dict[str, Any]:
    return {
        "id": str(artifact.id),
        "index": artifact.index,
        "url": artifact_url(storage, artifact),
        "content_type": artifact.content_type,
        "width": artifact.width,
        "height": artifact.height,
        "seed": artifact.seed,
        "bytes": artifact.bytes,
        "sha256": artifact.sha256,
    }


def progress(job: Job) -> dict[str, Any]:
    if job.progress_total:
        fraction = min(job.progress_step / job.progress_total, 1.0)
    else:
        fraction = 1.0 if job.status == "succeeded" else 0.0
    return {"step": job.progress_step, "total": job.progress_total, "fraction": round(fraction, 4)}


def serialize_job(session: Session, storage: Storage, job: Job) -> dict[str, Any]:
    error = None
    if job.error_code is not None:
        error = {"code": job.error_code, "message": job.error_message}
    return {
        "id": str(job.id),
        "kind": job.kind,
        "model": job.model,
        "status": job.status,
        "progress": progress(job),
        "queue_position": queue_position(session, job),
        "eta_seconds": None,
        "attempt": job.attempt,
        "params": job.params,
        "artifacts": [serialize_artifact(storage, artifact) for artifact in job.artifacts],
        "error": error,
        "created_at": isoformat(job.created_at),
        "started_at": isoformat(job.started_at),
        "finished_at": isoformat(job.finished_at),
    }
