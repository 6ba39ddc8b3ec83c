"""The worker's Prometheus metrics: what its jobs took, how they ended, what its
model caches did and, on CUDA, what the GPU holds. Recorded by the runner, the job
context and the model caches (never by an executor); counts and durations only,
never ids, owners or prompts.

`genq worker` runs its jobs in pool children: each child writes its samples to
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode, set up before
anything imports prometheus_client: cli/metrics_dir.py) and the main process serves
their sum (serve_worker_metrics). In a test's own process they stay in memory.
"""

import logging
import os
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from db.kinds import JobKind

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# A job takes from a fraction of a second (a tiny model, a text) to hours (a training).
JOB_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600)
STEP_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LOAD_SECONDS_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
BATCH_SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32)
# genq_worker_jobs' outcomes: the runner's, and "lost" for an attempt that lost its job.
OUTCOMES = ("succeeded", "failed", "canceled", "retrying", "released", "lost")


class WorkerMetrics:
    """The worker's instruments, in a registry of their own (exported as is when the
    process is alone, summed over the pool children's files otherwise)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.job_seconds = Histogram(
            "genq_worker_job_duration_seconds",
            "Seconds from a job's claim to its outcome being recorded (a batch: the batch's call and its own record).",
            ["kind", "model"],
            buckets=JOB_SECONDS_BUCKETS,
            registry=registry,
        )
        self.queue_wait_seconds = Histogram(
            "genq_worker_job_queue_wait_seconds",
            "Seconds from a job's submission to the start of this attempt.",
            ["kind", "model"],
            buckets=JOB_SECONDS_BUCKETS,
            registry=registry,
        )
        self.step_seconds = Histogram(
            "genq_worker_step_seconds",
            "Seconds per step a job reports: a denoising step (generate), a training step (finetune), a token.",
            ["kind", "model"],
            buckets=STEP_SECONDS_BUCKETS,
            registry=registry,
        )
        self.steps = Counter(
            "genq_worker_steps",
            "Steps jobs reported; rate() gives training steps (kind finetune) or denoising steps per second.",
            ["kind", "model"],
            registry=registry,
        )
        self.artifacts = Counter(
            "genq_worker_artifacts",
            "Files stored for succeeded jobs; rate() of artifact_kind image gives images per second.",
            ["kind", "model", "artifact_kind"],
            registry=registry,
        )
        self.jobs = Counter(
            "genq_worker_jobs",
            "Attempts by how they ended (succeeded, failed, canceled, retrying, released, lost) and failure code.",
            ["kind", "outcome", "code"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "genq_worker_batch_size",
            "Jobs claimed and run together in one executor call.",
            ["kind"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.model_loads = Counter(
            "genq_worker_model_loads", "Models loaded into a cache.", ["model_kind", "model"], registry=registry
        )
        self.model_evictions = Counter(
            "genq_worker_model_evictions", "Models evicted from a full cache.", ["model_kind"], registry=registry
        )
        self.model_load_seconds = Histogram(
            "genq_worker_model_load_seconds",
            "Seconds to load a model.",
            ["model_kind", "model"],
            buckets=LOAD_SECONDS_BUCKETS,
            registry=registry,
        )
        self.lease_renewals_lost = Counter(
            "genq_worker_lease_renewals_lost",
            "Lease renewals that found the attempt no longer held its job (taken over, or ended elsewhere).",
            ["kind"],
            registry=registry,
        )
        self.processes = Gauge(
            "genq_worker_processes",
            "Worker processes (pool children) taking jobs of a kind.",
            ["kind"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        # livesum: the pool children's allocations on one device add up; a child gone counts no more.
        self.gpu_memory_allocated = Gauge(
            "genq_worker_gpu_memory_allocated_bytes",
            "Bytes of GPU memory torch has allocated to tensors (CUDA only).",
            ["device"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.gpu_memory_reserved = Gauge(
            "genq_worker_gpu_memory_reserved_bytes",
            "Bytes of GPU memory torch's caching allocator holds (CUDA only).",
            ["device"],
            multiprocess_mode="livesum",
            registry=registry,
        )

    def serve(self, kinds: Iterable[JobKind]) -> None:
        """This process takes these kinds' jobs: counted in genq_worker_processes (an
        alert sees a kind no worker takes), and their counters start at 0, so a
        rate or an alert over them has a series before the first event."""
        for kind in kinds:
            self.processes.labels(kind.name).set(1)
            for outcome in OUTCOMES:
                self.jobs.labels(kind.name, outcome, "")
            self.lease_renewals_lost.labels(kind.name)
            self.model_evictions.labels(kind.model_kind)

    def observe_gpu_memory(self, device: "torch.device") -> None:
        """The allocator's figures now; called after a load, an eviction and each job."""
        if device.type != "cuda":
            return
        import torch

        label = str(device)
        self.gpu_memory_allocated.labels(label).set(torch.cuda.memory_allocated(device))
        self.gpu_memory_reserved.labels(label).set(torch.cuda.memory_reserved(device))


@cache
def worker_metrics() -> WorkerMetrics:
    """This process's instruments (one set per process, as the caches that report to them)."""
    return WorkerMetrics()


class NvmlCollector:
    """Each GPU's utilization and memory in use as the driver sees it (all
    processes), read at scrape time through NVML."""

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml

    def collect(self) -> Iterator[GaugeMetricFamily]:
        nvml = self._nvml
        utilization = GaugeMetricFamily(
            "genq_worker_gpu_utilization_ratio", "Share of the last sample period a kernel ran (NVML).", labels=["gpu"]
        )
        used = GaugeMetricFamily("genq_worker_gpu_memory_used_bytes", "GPU memory in use (NVML).", labels=["gpu"])
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            utilization.add_metric([str(index)], nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100)
            used.add_metric([str(index)], nvml.nvmlDeviceGetMemoryInfo(handle).used)
        yield utilization
        yield used


def nvml_collector() -> NvmlCollector | None:
    """None where nvidia-ml-py is not installed or finds no NVIDIA driver (a CPU machine)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        log.info("no GPU metrics: NVML did not start (%s)", error)
        return None
    return NvmlCollector(pynvml)


def serve_worker_metrics(host: str, port: int) -> None:
    """In `genq worker`'s main process, on a thread: the pool children's metrics
    (summed from PROMETHEUS_MULTIPROC_DIR) and NVML's, at http://host:port/metrics."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    gpus = nvml_collector()
    if gpus is not None:
        registry.register(gpus)
    start_http_server(port, addr=host, registry=registry)
    log.info("serving metrics at http://%s:%d/metrics", host, port)


def forget_process() -> None:
    """A pool child exiting: its live gauges (GPU memory) count no more."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        mark_process_dead(os.getpid())


def forget_dead_processes() -> None:
    """A pool child killed without its shutdown (a hard time limit's SIGKILL) left
    its live gauges behind: the next child to start forgets them."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    for path in Path(directory).glob("gauge_livesum_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid)
