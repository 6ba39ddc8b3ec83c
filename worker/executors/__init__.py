"""The executor for each job kind, looked up by the task; see interface.py for
what an executor is given and returns. Every kind in db.specs.JOB_KINDS has one."""

from worker.executors.generate import run_generate
from worker.executors.interface import ArtifactOutput, Executor, JobContext, JobInput

__all__ = ["EXECUTORS", "ArtifactOutput", "Executor", "JobContext", "JobInput"]

EXECUTORS: dict[str, Executor] = {
    "generate": run_generate,
}
