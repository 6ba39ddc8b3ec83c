"""The job a client sees (db/contract's Job), built from its row: the API's answers
(web) and the body of webhook deliveries (worker) are this one model.

How an artifact is reached is the caller's: a presigned S3 URL, else the web's
root-relative download route. Never put storage keys or internal fields here.
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import contract
from db.eta import Position, job_positions
from db.kinds import find_kind
from db.losses import LossPoint, latest_losses
from db.models import Artifact, Job, JobStatus, WebhookDelivery
from db.storage import Storage

ArtifactUrl = Callable[[Artifact], str | None]
# The web's download route for artifacts in local storage (web/api/jobs.py), for
# callers outside a request (webhooks); a test checks that the two agree.
LOCAL_ARTIFACT_PATH = "/api/v1/jobs/{job_id}/artifacts/{index}"


def isoformat(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_artifact_path(artifact: Artifact) -> str:
    return LOCAL_ARTIFACT_PATH.format(job_id=artifact.job_id, index=artifact.index)


def artifact_url_from(storage: Storage, local_url: Callable[[Artifact], str] = local_artifact_path) -> ArtifactUrl:
    """Presigned URLs where storage makes them, else `local_url`; None once the
    artifact's object was deleted (retention, or its adapter deleted)."""

    def url(artifact: Artifact) -> str | None:
        if artifact.expired_at is not None:
            return None
        return storage.presigned_url(artifact.storage_key) or local_url(artifact)

    return url


def describe_artifact(artifact: Artifact, url: str | None) -> contract.Artifact:
    usage = None
    if artifact.finish_reason is not None:
        usage = contract.TokenUsage(prompt_tokens=artifact.prompt_tokens, completion_tokens=artifact.completion_tokens)
    return contract.Artifact(
        id=artifact.id,
        index=artifact.index,
        kind=artifact.kind,
        url=url,
        expired=artifact.expired_at is not None,
        content_type=artifact.content_type,
        width=artifact.width,
        height=artifact.height,
        seed=artifact.seed,
        bytes=artifact.bytes,
        sha256=artifact.sha256,
        text=artifact.text,
        finish_reason=artifact.finish_reason,
        usage=usage,
        sample_rate=artifact.sample_rate,
        duration_seconds=artifact.duration_seconds if artifact.sample_rate is not None else None,
        clip_score=artifact.clip_score,
    )


def describe_progress(job: Job) -> contract.Progress:
    if job.progress_total:
        fraction = min(job.progress_step / job.progress_total, 1.0)
    else:
        fraction = 1.0 if job.status == JobStatus.SUCCEEDED else 0.0
    return contract.Progress(step=job.progress_step, total=job.progress_total, fraction=round(fraction, 4))


def describe_loss(latest: LossPoint | None) -> contract.LatestLoss | None:
    """A training job's latest loss (the whole series: GET .../loss); None for other kinds."""
    if latest is None:
        return None
    step, loss = latest
    return contract.LatestLoss(step=step, value=loss)


def describe_position(position: Position) -> contract.QueuePosition:
    """Where the job stands: jobs ahead (0 once running, None when finished), whether
    its queue is paused (then no ETA) and the ETA."""
    return contract.QueuePosition(
        queue_position=position.queue_position,
        queue_paused=position.paused,
        eta_seconds=position.eta.p50_seconds if position.eta else None,
        eta_p90_seconds=position.eta.p90_seconds if position.eta else None,
    )


def describe_webhook(job: Job, deliveries: Sequence[WebhookDelivery]) -> contract.Webhook | None:
    if job.webhook_url is None:
        return None
    return contract.Webhook(
        url=job.webhook_url,
        events=job.webhook_events,
        deliveries=[contract.WebhookDelivery.model_validate(delivery) for delivery in deliveries],
    )


def _deliveries(session: Session, jobs: Sequence[Job]) -> dict[uuid.UUID, list[WebhookDelivery]]:
    with_webhook = [job.id for job in jobs if job.webhook_url is not None]
    by_job: dict[uuid.UUID, list[WebhookDelivery]] = defaultdict(list)
    if with_webhook:
        deliveries = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.job_id.in_(with_webhook))
            .order_by(WebhookDelivery.created_at, WebhookDelivery.attempt)
        )
        for delivery in deliveries:
            by_job[delivery.job_id].append(delivery)
    return by_job


def describe_jobs(session: Session, jobs: Sequence[Job], artifact_url: ArtifactUrl) -> list[contract.Job]:
    """Each job as the API shows it, in order. What is read besides the rows (positions
    and ETAs, latest losses, webhook deliveries) is read for all of them at once: a
    page of jobs costs the same few statements as one job."""
    positions = job_positions(session, jobs)
    losses = latest_losses(session, [job.id for job in jobs if _records_loss(job)])
    deliveries = _deliveries(session, jobs)
    return [
        contract.Job(
            id=job.id,
            kind=job.kind,
            model=job.model,
            status=job.status,
            cancel_requested=job.cancel_requested,
            priority=job.priority,
            retry_of=job.retry_of,
            progress=describe_progress(job),
            loss=describe_loss(losses.get(job.id)),
            **dict(describe_position(positions[job.id])),
            attempt=job.attempt,
            params=job.params,
            result=job.result,
            artifacts=[describe_artifact(artifact, artifact_url(artifact)) for artifact in job.artifacts],
            webhook=describe_webhook(job, deliveries[job.id]),
            error=None if job.error_code is None else contract.JobError(code=job.error_code, message=job.error_message),
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )
        for job in jobs
    ]


def job_json(session: Session, job: Job, artifact_url: ArtifactUrl) -> dict[str, Any]:
    """The JSON of one job (a webhook delivery's body)."""
    return describe_jobs(session, [job], artifact_url)[0].model_dump(mode="json")


def _records_loss(job: Job) -> bool:
    kind = find_kind(job.kind)
    return kind is not None and kind.records_loss
