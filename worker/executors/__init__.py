"""The executor for each job kind, looked up by the task; see interface.py for
what an executor is given and returns. Every kind in db.specs.JOB_KINDS has one;
the kinds db/batches.py batches also have a batch executor."""

from worker.executors.finetune import run_finetune
from worker.executors.generate import run_generate, run_generate_batch
from worker.executors.interface import ArtifactOutput, BatchExecutor, Executor, JobContext, JobInput
from worker.executors.textgen import run_textgen

__all__ = ["BATCH_EXECUTORS", "EXECUTORS", "ArtifactOutput", "BatchExecutor", "Executor", "JobContext", "JobInput"]

EXECUTORS: dict[str, Executor] = {
    "generate": run_generate,
    "finetune": run_finetune,
    "textgen": run_textgen,
}

BATCH_EXECUTORS: dict[str, BatchExecutor] = {
    "generate": run_generate_batch,
}
