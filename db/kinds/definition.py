"""What the platform knows about a job kind, in one object: its params spec, its
queue, the kind of model it runs on, what it counts against the daily budget
(as a value and as SQL, from one definition), the params its ETA and its batch
key read, the references checked at submit and what a success records besides
its artifacts. Kinds are defined in db/kinds/<kind>.py; never imports torch.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import ColumnElement, case, func
from sqlalchemy.orm import Session

from db.models import Job, Upload
from db.registry import ModelKind
from db.settings import Settings


@dataclass(frozen=True)
class QuotaUnits:
    """The images a job counts against its owner's daily budget: the integer param
    `count` (`default` when absent), and none unless the param `only_with` is set."""

    count: str
    default: int = 1
    only_with: str | None = None

    def of(self, params: Mapping[str, Any]) -> int:
        if self.only_with is not None and params.get(self.only_with) is None:
            return 0
        return int(params.get(self.count) or self.default)

    def sql(self) -> ColumnElement[int]:
        """The same number, computed by the database from a job row's params."""
        units = func.coalesce(Job.params[self.count].as_integer(), self.default)
        if self.only_with is None:
            return units
        return case((Job.params[self.only_with].as_string().is_not(None), units), else_=0)


class NonEmpty:
    """A batch param compared by whether it is a non-empty string, not by its value."""


@dataclass(frozen=True)
class Batching:
    """Jobs of a batched kind share one executor call when their model and each of
    these params (paths into the stored params, of names and list places, compared
    as the given type) agree; `size` is the param that says how many items a job
    adds to the call."""

    params: Mapping[tuple[str | int, ...], type]
    size: str


class Reference(Protocol):
    """Something a job's params name that must be its owner's (a dataset, an
    adapter, an upload): check raises db.refusals.ReferenceNotFound when it is not,
    SubmissionRejected when it does not fit the job. While the job is queued or
    running, the row it names is in use (db/retention.py neither sweeps nor deletes it)."""

    def check(
        self, session: Session, *, owner: str, model: str, params: Mapping[str, Any], settings: Settings
    ) -> None: ...

    def named_ids(self, target: type) -> list[ColumnElement[str]]:
        """The ids of `target` rows (Dataset, Adapter, Upload) it names, as SQL over a
        job row's params (each id's text); none for a table it names nothing of."""
        ...


@dataclass(frozen=True)
class JobKind:
    name: str
    spec: type[BaseModel]
    queue: str
    # The registry kind (db/registry.py) of the models its jobs run on.
    model_kind: ModelKind
    # The module whose EXECUTOR runs its jobs (worker/executors/); imported by workers only.
    executor_module: str
    # How many progress steps a job takes (ETAs): the integer param of this name, a
    # function of the params for a kind whose steps no one param says (speech:
    # sentences), or None where nothing does (evaluate).
    steps_param: str | Callable[[Mapping[str, Any]], int] | None
    # The params a step's cost depends on: ETAs are made from runs that agree on them.
    eta_params: tuple[str, ...] = ()
    quota: QuotaUnits | None = None
    batching: Batching | None = None
    references: Sequence[Reference] = ()
    # The params that take an input image: an upload id, or a data URI stored as an
    # upload at submit (db/input_images.py); the owner's own only.
    image_params: tuple[str, ...] = ()
    # Fills params that default to the input images' sizes ({param: (width, height)}),
    # at submit, so that the stored params (ETA shape, batch key) say the real size;
    # raises SubmissionRejected for sizes its params cannot take (before anything is stored).
    sized_by_inputs: Callable[[dict[str, Any], Mapping[str, tuple[int, int]], Settings], dict[str, Any]] | None = None
    # For a kind whose params choose what it runs on (upscale: `upscaler`), that param:
    # the job's model is its value, which the spec checks (it may name something that
    # is no registry model, as `lanczos`); the request's `model` is then refused.
    model_param: str | None = None
    # Whether its jobs report a training loss (GET .../loss, the job's `loss`).
    records_loss: bool = False
    # Called in the transaction that records a success, after its artifacts.
    on_success: Callable[[Session, Job], None] | None = None

    def named_ids(self, target: type) -> list[ColumnElement[str]]:
        """SQL for the ids of `target` rows a job's params name: its references' and,
        for uploads, its image params'."""
        named = [named_id for reference in self.references for named_id in reference.named_ids(target)]
        if target is Upload:
            named += [Job.params[param].as_string() for param in self.image_params]
        return named

    def steps(self, params: Mapping[str, Any]) -> int:
        if self.steps_param is None:
            return 0
        if callable(self.steps_param):
            return self.steps_param(params)
        return int(params.get(self.steps_param, 0))

    def images(self, params: Mapping[str, Any]) -> int:
        """What a job with these params counts against the daily budget."""
        return 0 if self.quota is None else self.quota.of(params)
