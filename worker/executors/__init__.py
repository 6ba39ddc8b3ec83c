"""Each job kind's executor, found the way kinds are: a kind names its executor
module (db.kinds.definition.JobKind.executor_module), whose EXECUTOR is a
KindExecutor; see interface.py for what an executor is given and returns."""

import importlib
from collections.abc import Iterable

from db.kinds.definition import JobKind
from worker.executors.interface import (
    ArtifactOutput,
    BatchExecutor,
    Executor,
    JobContext,
    JobInput,
    KindExecutor,
)

__all__ = [
    "ArtifactOutput",
    "BatchExecutor",
    "Executor",
    "JobContext",
    "JobInput",
    "KindExecutor",
    "load_executors",
]


class ExecutorModuleInvalid(ValueError):
    """A kind's executor module has no KindExecutor as its EXECUTOR."""


def load_executors(kinds: Iterable[JobKind]) -> dict[str, KindExecutor]:
    """The executor of each of these kinds, by kind name (imports their modules)."""
    executors = {}
    for kind in kinds:
        executor = getattr(importlib.import_module(kind.executor_module), "EXECUTOR", None)
        if not isinstance(executor, KindExecutor):
            raise ExecutorModuleInvalid(f"{kind.executor_module} has no EXECUTOR = KindExecutor(...)")
        executors[kind.name] = executor
    return executors
