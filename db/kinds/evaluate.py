"""The `evaluate` kind: measures a set of the owner's images (jobs' images, a
dataset, uploads) with a clip model, on its own queue: CLIP scores against their
prompts, and the Fréchet distance to a reference set. It counts nothing against
the image budget; GENQ_MAX_EVAL_IMAGES caps each set."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from db.datasets import get_dataset
from db.input_images import get_upload
from db.jobs import get_job
from db.kinds.definition import JobKind
from db.models import Dataset, Job, JobStatus
from db.refusals import FieldError, ReferenceNotFound, SubmissionRejected
from db.settings import Settings
from db.specs import NOT_BLANK, JsonBody, Prompt

EVALUATE_QUEUE = "evaluate"
Metric = Literal["clip_score", "fid"]
# Ids one set may name; the images they hold are capped by GENQ_MAX_EVAL_IMAGES.
MAX_SET_IDS = 1000


class ImageSet(JsonBody):
    """Images of the owner's: the image artifacts of succeeded jobs, a dataset's
    images, uploads; evaluated in that order."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # _names_some_images, for the OpenAPI document: a non-empty list or a dataset.
        json_schema_extra={
            "anyOf": [
                {"required": ["job_ids"], "properties": {"job_ids": {"minItems": 1}}},
                {"required": ["dataset_id"], "properties": {"dataset_id": {"type": "string"}}},
                {"required": ["upload_ids"], "properties": {"upload_ids": {"minItems": 1}}},
            ]
        },
    )

    job_ids: list[uuid.UUID] = Field(default=[], max_length=MAX_SET_IDS)
    dataset_id: uuid.UUID | None = None
    upload_ids: list[uuid.UUID] = Field(default=[], max_length=MAX_SET_IDS)

    @model_validator(mode="after")
    def _names_some_images(self) -> "ImageSet":
        if not (self.job_ids or self.dataset_id or self.upload_ids):
            raise ValueError("name at least one of job_ids, dataset_id, upload_ids")
        return self


class EvaluateSpec(JsonBody):
    """Params of an evaluation; the job's model is the clip model that measures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images: ImageSet
    # The prompts of the dataset's and uploads' images, in their order: one for all
    # of them, or one each. A job's image is scored against its own prompt.
    prompts: list[Annotated[Prompt, NOT_BLANK, Field(min_length=1)]] = Field(default=[], max_length=MAX_SET_IDS)
    metrics: list[Metric] = Field(default=["clip_score"], min_length=1)
    # fid: the set the images are compared with (checked even when absent).
    reference: ImageSet | None = Field(default=None, validate_default=True)

    @field_validator("metrics")
    @classmethod
    def _each_metric_once(cls, metrics: list[str]) -> list[str]:
        return list(dict.fromkeys(metrics))

    @field_validator("reference")
    @classmethod
    def _reference_for_fid_only(cls, reference: ImageSet | None, info: ValidationInfo) -> ImageSet | None:
        metrics = info.data.get("metrics", [])
        if "fid" in metrics and reference is None:
            raise ValueError("fid compares the images with a reference set; name one")
        if "fid" not in metrics and reference is not None:
            raise ValueError("only fid reads a reference set; add fid to metrics or leave it out")
        return reference


@dataclass(frozen=True)
class ImageCount:
    from_jobs: int
    from_files: int  # the dataset's and the uploads', which take `prompts`

    @property
    def total(self) -> int:
        return self.from_jobs + self.from_files


def count_images(session: Session, owner: str, images: Mapping[str, Any], field: str) -> ImageCount:
    """How many images the set (stored params) names; ReferenceNotFound (404) for a
    job, dataset or upload that is missing or another owner's, SubmissionRejected for
    a job that has not succeeded."""
    from_jobs = 0
    for index, job_id in enumerate(images.get("job_ids", [])):
        job = get_job(session, uuid.UUID(job_id), owner=owner)
        if job is None:
            raise ReferenceNotFound("job_not_found", f"{field}.job_ids.{index}", "no such job; see GET /api/v1/jobs")
        if job.status != JobStatus.SUCCEEDED:
            message = f"job {job_id} is {job.status}; only a succeeded job's images can be evaluated"
            raise SubmissionRejected("validation_error", [FieldError(f"{field}.job_ids.{index}", message)])
        from_jobs += sum(artifact.kind == "image" for artifact in job.artifacts)
    from_files = 0
    dataset_id = images.get("dataset_id")
    if dataset_id is not None:
        dataset = get_dataset(session, uuid.UUID(dataset_id), owner=owner)
        if dataset is None:
            raise ReferenceNotFound(
                "dataset_not_found", f"{field}.dataset_id", "no such dataset; see GET /api/v1/datasets"
            )
        from_files += len(dataset.files)
    for index, upload_id in enumerate(images.get("upload_ids", [])):
        if get_upload(session, uuid.UUID(upload_id), owner=owner) is None:
            raise ReferenceNotFound(
                "upload_not_found", f"{field}.upload_ids.{index}", "no such upload; see GET /api/v1/uploads"
            )
        from_files += 1
    return ImageCount(from_jobs, from_files)


@dataclass(frozen=True)
class ImageSetsReference:
    """The images and reference sets are the owner's, hold images (two at least for
    fid), no more than GENQ_MAX_EVAL_IMAGES each, and the prompts fit them."""

    def check(self, session: Session, *, owner: str, model: str, params: Mapping[str, Any], settings: Settings) -> None:
        metrics = params["metrics"]
        sets = {"images": params["images"], "reference": params.get("reference")}
        for name, images in sets.items():
            if images is None:
                continue
            field = f"params.{name}"
            count = count_images(session, owner, images, field)
            least = 2 if "fid" in metrics else 1
            if count.total < least:
                message = (
                    f"holds {count.total} images; {'fid needs two at least' if least == 2 else 'nothing to evaluate'}"
                )
                raise SubmissionRejected("validation_error", [FieldError(field, message)])
            if count.total > settings.max_eval_images:
                message = (
                    f"holds {count.total} images, more than the {settings.max_eval_images} one evaluation may measure"
                )
                raise SubmissionRejected("validation_error", [FieldError(field, message)])
            if name == "images" and "clip_score" in metrics:
                _check_prompts(params["prompts"], count.from_files)

    def named_ids(self, target: type) -> list[ColumnElement[str]]:
        # The datasets its sets name are in use while it waits or runs. The uploads of
        # `upload_ids` are not found this way (a JSON array is no SQL scalar): one deleted
        # meanwhile fails the evaluation when it reads it.
        if target is not Dataset:
            return []
        return [Job.params[(name, "dataset_id")].as_string() for name in ("images", "reference")]


def _check_prompts(prompts: list[str], files: int) -> None:
    if files and len(prompts) not in (1, files):
        message = f"give one prompt for the {files} dataset and upload images, or one each; {len(prompts)} given"
        raise SubmissionRejected("validation_error", [FieldError("params.prompts", message)])


KIND = JobKind(
    name="evaluate",
    spec=EvaluateSpec,
    queue=EVALUATE_QUEUE,
    model_kind="clip",
    executor_module="worker.executors.evaluate",
    steps_param=None,
    references=(ImageSetsReference(),),
)
