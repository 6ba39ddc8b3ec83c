"""The references a kind's params may hold to its owner's rows, checked at submit
(db.kinds.definition.Reference): another owner's row is a missing one, so ids
cannot be probed."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from db.adapters import get_adapter
from db.datasets import get_dataset
from db.models import Adapter, Dataset, Job
from db.refusals import FieldError, ReferenceNotFound, SubmissionRejected
from db.settings import Settings


@dataclass(frozen=True)
class DatasetReference:
    """The param holds the id of one of the owner's datasets."""

    param: str

    def check(self, session: Session, *, owner: str, model: str, params: Mapping[str, Any], settings: Settings) -> None:
        dataset_id = params.get(self.param)
        if dataset_id is not None and get_dataset(session, uuid.UUID(dataset_id), owner=owner) is None:
            raise ReferenceNotFound(
                "dataset_not_found", f"params.{self.param}", "no such dataset; see GET /api/v1/datasets"
            )

    def named_ids(self, target: type) -> list[ColumnElement[str]]:
        return [Job.params[self.param].as_string()] if target is Dataset else []


@dataclass(frozen=True)
class AdapterListReference:
    """The param holds a list of at most `slots` {"id", "scale"}, each of one of the
    owner's adapters trained on the job's model (a LoRA's shapes fit only the model
    it was trained on)."""

    param: str
    slots: int

    def check(self, session: Session, *, owner: str, model: str, params: Mapping[str, Any], settings: Settings) -> None:
        for index, reference in enumerate(params.get(self.param) or ()):
            field = f"params.{self.param}.{index}.id"
            adapter = get_adapter(session, uuid.UUID(reference["id"]), owner=owner)
            if adapter is None:
                raise ReferenceNotFound("adapter_not_found", field, "no such adapter; see GET /api/v1/adapters")
            if adapter.base_model != model:
                message = f"the adapter was trained for model {adapter.base_model!r}, not {model!r}"
                raise SubmissionRejected("adapter_model_mismatch", [FieldError(field, message)])

    def named_ids(self, target: type) -> list[ColumnElement[str]]:
        # One scalar per place in the list (plain JSON paths, on Postgres and SQLite alike).
        if target is not Adapter:
            return []
        return [Job.params[(self.param, index, "id")].as_string() for index in range(self.slots)]
