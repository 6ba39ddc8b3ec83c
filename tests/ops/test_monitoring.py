"""ops/monitoring/: the Grafana dashboard and the alert rules query only metrics
that a real `genq web` and a real `genq worker` export, and the worker's pool
children's samples reach its /metrics (prometheus-client's multiprocess mode)."""

import json
import re
from types import SimpleNamespace

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.http import ApiUrl, submit, wait_until_finished
from tests.support.processes import REPO_ROOT, running_web, running_worker
from tests.support.services import free_port
from worker.metrics import NvmlCollector, WorkerMetrics, nvml_collector

MONITORING = REPO_ROOT / "ops" / "monitoring"
METRIC_NAME = re.compile(r"\bgenq_[a-z_]+\b")
# The sample suffixes of counters and histograms; the families are named without them.
SUFFIXES = ("_total", "_bucket", "_count", "_sum")
# Only a worker on CUDA (torch's allocator) exports these, and only one with an NVIDIA driver (NVML) those.
TORCH_GPU_METRICS = {"genq_worker_gpu_memory_allocated_bytes", "genq_worker_gpu_memory_reserved_bytes"}
NVML_METRICS = {"genq_worker_gpu_utilization_ratio", "genq_worker_gpu_memory_used_bytes"}


class OneGpuNvml:
    """A stand-in for pynvml on a machine without a driver: one GPU, half busy."""

    class NVMLError(Exception):
        pass

    @staticmethod
    def nvmlDeviceGetCount() -> int:
        return 1

    @staticmethod
    def nvmlDeviceGetHandleByIndex(index: int) -> int:
        return index

    @staticmethod
    def nvmlDeviceGetUtilizationRates(_handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=50)

    @staticmethod
    def nvmlDeviceGetMemoryInfo(_handle: int) -> SimpleNamespace:
        return SimpleNamespace(used=2**30)


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_queries() -> list[str]:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def family_names(queries: list[str]) -> set[str]:
    names = set()
    for query in queries:
        for name in METRIC_NAME.findall(query):
            for suffix in SUFFIXES:
                name = name.removesuffix(suffix)
            names.add(name)
    return names


def scrape(url: str) -> dict[str, list]:
    """Each family's samples, by family name."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def test_the_alert_rules_are_well_formed():
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert {"GenqQueuedJobWaitingTooLong", "GenqJobFailureRate", "GenqNoWorkerForKind"} <= set(alerts)
    for rule in alerts.values():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_every_metric_the_dashboard_and_the_alerts_query_is_exported(ops_settings, ops_api_key, tmp_path):
    port = free_port()
    worker_settings = ops_settings.model_copy(update={"worker_metrics_host": "127.0.0.1", "worker_metrics_port": port})
    with (
        running_worker(worker_settings, tmp_path / "worker.log") as _worker,
        running_web(ops_settings, tmp_path / "web.log") as web_url,
    ):
        platform = ApiUrl(web_url, ops_api_key)
        job = submit(platform, {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 4})
        assert wait_until_finished(platform, job["id"])["status"] == "succeeded"

        worker = scrape(f"http://127.0.0.1:{port}/metrics")
        web = scrape(f"{web_url}/metrics")

    exported = set(worker) | set(web)
    queried = family_names(dashboard_queries() + alert_queries())
    if nvml_collector() is None:
        # A CPU machine: the GPU gauges are those the worker defines, under these names.
        exported |= {metric.name for metric in WorkerMetrics().registry.collect()} & TORCH_GPU_METRICS
        exported |= {metric.name for metric in NvmlCollector(OneGpuNvml).collect()}
    assert queried - exported == set()
    assert exported >= TORCH_GPU_METRICS | NVML_METRICS

    # The pool child's samples, summed by the worker's main process: one job of 4 steps.
    durations = {
        s.labels["kind"]: s.value for s in worker["genq_worker_job_duration_seconds"] if s.name.endswith("_count")
    }
    assert durations == {"generate": 1}
    [succeeded] = [
        s.value
        for s in worker["genq_worker_jobs"]
        if s.labels == {"kind": "generate", "outcome": "succeeded", "code": ""} and s.name.endswith("_total")
    ]
    assert succeeded == 1
    processes = {s.labels["kind"]: s.value for s in worker["genq_worker_processes"]}
    assert processes["generate"] == 1
    images = [s.value for s in worker["genq_worker_artifacts"] if s.labels.get("artifact_kind") == "image"]
    assert images == [1]
    # The web's own: the submission's request, by route and status.
    submitted = [
        s.value
        for s in web["genq_web_request_duration_seconds"]
        if s.name.endswith("_count") and s.labels == {"route": "/api/v1/jobs", "status": "202"}
    ]
    assert submitted == [1]
