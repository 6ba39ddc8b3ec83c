"""The JSON a client sees for a job, built from its row: the API's answers (web)
and the body of webhook deliveries (worker) are this one shape.

How an artifact is reached is the caller's: a presigned S3 URL, else the web's
root-relative download route. Never put storage keys or internal fields here.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.eta import estimate_job
from db.jobs import queue_position
from db.kinds import find_kind
from db.losses import latest_loss
from db.models import Artifact, Job, JobStatus, WebhookDelivery
from db.storage import Storage

ArtifactUrl = Callable[[Artifact], str]
# The web's download route for artifacts in local storage (web/api/jobs.py), for
# callers outside a request (webhooks); a test checks that the two agree.
LOCAL_ARTIFACT_PATH = "/api/v1/jobs/{job_id}/artifacts/{index}"


def isoformat(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_artifact_path(artifact: Artifact) -> str:
    return LOCAL_ARTIFACT_PATH.format(job_id=artifact.job_id, index=artifact.index)


def artifact_url_from(storage: Storage, local_url: ArtifactUrl = local_artifact_path) -> ArtifactUrl:
    """Presigned URLs where storage makes them, else `local_url`."""

    def url(artifact: Artifact) -> str:
        return storage.presigned_url(artifact.storage_key) or local_url(artifact)

    return url


def artifact_json(artifact: Artifact, url: str) -> dict[str, Any]:
    described = {
        "id": str(artifact.id),
        "index": artifact.index,
        "kind": artifact.kind,
        "url": url,
        "content_type": artifact.content_type,
        "width": artifact.width,
        "height": artifact.height,
        "seed": artifact.seed,
        "bytes": artifact.bytes,
        "sha256": artifact.sha256,
    }
    if artifact.text is not None:
        described["text"] = artifact.text
    return described


def progress_json(job: Job) -> dict[str, Any]:
    if job.progress_total:
        fraction = min(job.progress_step / job.progress_total, 1.0)
    else:
        fraction = 1.0 if job.status == JobStatus.SUCCEEDED else 0.0
    return {"step": job.progress_step, "total": job.progress_total, "fraction": round(fraction, 4)}


def loss_json(session: Session, job: Job) -> dict[str, Any] | None:
    """A training job's latest loss (the whole series: GET .../loss); null for other kinds."""
    kind = find_kind(job.kind)
    if kind is None or not kind.records_loss:
        return None
    latest = latest_loss(session, job.id)
    if latest is None:
        return None
    step, loss = latest
    return {"step": step, "value": loss}


def position_json(session: Session, job: Job) -> dict[str, Any]:
    """Where the job stands: jobs ahead (0 once running, None when finished) and the ETA."""
    position = queue_position(session, job)
    eta = estimate_job(session, job, position)
    return {
        "queue_position": position,
        "eta_seconds": eta.p50_seconds if eta else None,
        "eta_p90_seconds": eta.p90_seconds if eta else None,
    }


def webhook_json(session: Session, job: Job) -> dict[str, Any] | None:
    if job.webhook_url is None:
        return None
    deliveries = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.job_id == job.id)
        .order_by(WebhookDelivery.created_at, WebhookDelivery.attempt)
    )
    return {
        "url": job.webhook_url,
        "events": job.webhook_events,
        "deliveries": [
            {
                "event": delivery.event,
                "attempt": delivery.attempt,
                "status_code": delivery.status_code,
                "error": delivery.error,
                "created_at": isoformat(delivery.created_at),
            }
            for delivery in deliveries
        ],
    }


def job_json(session: Session, job: Job, artifact_url: ArtifactUrl) -> dict[str, Any]:
    error = None
    if job.error_code is not None:
        error = {"code": job.error_code, "message": job.error_message}
    return {
        "id": str(job.id),
        "kind": job.kind,
        "model": job.model,
        "status": job.status,
        "cancel_requested": job.cancel_requested,
        "priority": job.priority,
        "progress": progress_json(job),
        "loss": loss_json(session, job),
        **position_json(session, job),
        "attempt": job.attempt,
        "params": job.params,
        "artifacts": [artifact_json(artifact, artifact_url(artifact)) for artifact in job.artifacts],
        "webhook": webhook_json(session, job),
        "error": error,
        "created_at": isoformat(job.created_at),
        "started_at": isoformat(job.started_at),
        "finished_at": isoformat(job.finished_at),
    }
