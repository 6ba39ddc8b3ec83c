"""Prometheus metrics at /metrics: the queue as the database sees it, read at
scrape time, so every web process reports the same numbers and a scaler (KEDA,
an HPA) can size the worker pool on them. Counts only: never ids, owners or prompts."""

from collections.abc import Iterator

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import ACTIVE_STATUSES, Job, JobStatus, utcnow

metrics = Blueprint("metrics", __name__)

REGISTRY_EXTENSION = "genq.metrics"


class QueueCollector:
    """Active jobs by kind and status, and how long the oldest queued job has waited.
    Only queued and running jobs are counted: that stays cheap (an index) however
    long the history grows."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("genq_jobs", "Queued and running jobs.", labels=["kind", "status"])
        waiting = GaugeMetricFamily(
            "genq_oldest_queued_job_age_seconds", "Age of the oldest queued job.", labels=["kind"]
        )
        now = utcnow()
        with self.sessions() as session:
            counts = session.execute(
                select(Job.kind, Job.status, func.count())
                .where(Job.status.in_(ACTIVE_STATUSES))
                .group_by(Job.kind, Job.status)
            )
            for kind, status, count in counts:
                jobs.add_metric([kind, status], count)
            oldest = session.execute(
                select(Job.kind, func.min(Job.created_at)).where(Job.status == JobStatus.QUEUED).group_by(Job.kind)
            )
            for kind, created_at in oldest:
                waiting.add_metric([kind], (now - created_at).total_seconds())
        yield jobs
        yield waiting


def make_registry(sessions: sessionmaker[Session]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(sessions))
    return registry


@metrics.get("/metrics")
def scrape() -> Response:
    registry: CollectorRegistry = current_app.extensions[REGISTRY_EXTENSION]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
