"""Prometheus metrics at /metrics: the queue as the database sees it, read at
scrape time, so every web process reports the same numbers and a scaler (KEDA,
an HPA) can size the worker pool on them; and this web tier's own: request
latency by route and status, open event streams, waiting compatible calls.
Counts only: never ids, owners or prompts.

Under `genq web` the requests are served by forked gunicorn workers: each writes
its samples to PROMETHEUS_MULTIPROC_DIR (cli/metrics_dir.py) and a scrape of any
of them sums them all. An app made in a test's own process keeps them in memory."""

import os
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import ACTIVE_STATUSES, Job, JobStatus, utcnow

metrics = Blueprint("metrics", __name__)

REGISTRY_EXTENSION = "genq.metrics"
REQUEST_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# The route label of a request no route matched (404s, scanners): one series, however many paths.
UNMATCHED_ROUTE = "unmatched"


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


class WebMetrics:
    """One app's instruments, and the registry its /metrics exports."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        instruments = CollectorRegistry()
        self.request_seconds = Histogram(
            "genq_web_request_duration_seconds",
            "Seconds from a request's arrival to its response (a stream: to its first byte).",
            ["route", "status"],
            buckets=REQUEST_SECONDS_BUCKETS,
            registry=instruments,
        )
        # livesum: the web processes' counts add up; a process gone counts no more.
        self.open_streams = Gauge(
            "genq_web_open_event_streams",
            "Event streams being served.",
            multiprocess_mode="livesum",
            registry=instruments,
        )
        self.compat_waits = Gauge(
            "genq_web_compat_waits",
            "Compatible (OpenAI, A1111) calls waiting for their job.",
            multiprocess_mode="livesum",
            registry=instruments,
        )
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry)
        else:
            self.registry = instruments
        self.registry.register(QueueCollector(sessions))

    def install(self, app: Flask) -> None:
        app.before_request(_mark_arrival)

        @app.after_request
        def _observe(response: Response) -> Response:
            arrived = g.pop("metrics_arrived", None)
            if arrived is not None:
                route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
                self.request_seconds.labels(route, str(response.status_code)).observe(time.perf_counter() - arrived)
            return response


def _mark_arrival() -> None:
    g.metrics_arrived = time.perf_counter()


@metrics.get("/metrics")
def scrape() -> Response:
    web_metrics: WebMetrics = current_app.extensions[REGISTRY_EXTENSION]
    return Response(generate_latest(web_metrics.registry), mimetype=CONTENT_TYPE_LATEST)
