"""A job as the API shows it (and webhook deliveries carry it): the job, its
artifacts, its progress, latest loss, webhook and error, and a page of jobs."""

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from db.contract.fields import UtcDatetime, omitted_when_none
from db.kinds import list_kind_names
from db.models import JobStatus


class TokenUsage(BaseModel):
    prompt_tokens: int | None
    completion_tokens: int | None


class Artifact(BaseModel):
    id: uuid.UUID
    index: int = Field(ge=0)
    kind: str = Field(
        description="image, text, audio, adapter (a finetune job's LoRA .safetensors) or report (an evaluation's JSON)"
    )
    url: str | None = Field(description="presigned S3 URL, or this API's download path; null once expired")
    expired: bool = Field(description="its object was deleted (GENQ_RESULT_RETENTION_DAYS, or its adapter deleted)")
    content_type: str
    width: int | None
    height: int | None
    seed: int | None
    bytes: int
    sha256: str
    text: str | SkipJsonSchema[None] = omitted_when_none("the generated text (text artifacts only)")
    finish_reason: Literal["stop", "length"] | SkipJsonSchema[None] = omitted_when_none(
        "text artifacts only: a stop string or the end-of-text token ended it, or max_new_tokens"
    )
    usage: TokenUsage | SkipJsonSchema[None] = omitted_when_none(
        "text artifacts only: tokens counted by the model's tokenizer"
    )
    sample_rate: int | SkipJsonSchema[None] = omitted_when_none("audio artifacts only: samples per second")
    duration_seconds: float | SkipJsonSchema[None] = omitted_when_none("audio artifacts only: its length")
    clip_score: Annotated[float, Field(ge=0)] | SkipJsonSchema[None] = omitted_when_none(
        "scored images only: 100 x the cosine of the image's and its prompt's CLIP embeddings, floored at 0"
    )


class Progress(BaseModel):
    step: int
    total: int
    fraction: float = Field(ge=0, le=1)


class LatestLoss(BaseModel):
    """A finetune job's latest training loss."""

    step: int
    value: float | None = Field(description="null where it diverged")


class WebhookDelivery(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read off its row

    event: str
    attempt: int
    status_code: int | None
    error: str | None
    created_at: UtcDatetime


class Webhook(BaseModel):
    url: str
    events: list[str] | None
    deliveries: list[WebhookDelivery]


class JobError(BaseModel):
    code: str
    message: str | None


# Where a job stands: in the job and in its `queue` events.
JobsAhead = Annotated[int | None, Field(description="jobs ahead; 0 running; null finished")]
QueuePaused = Annotated[bool, Field(description="an admin paused this kind's queue: no ETA until resumed")]
EtaSeconds = Annotated[float | None, Field(description="median estimate to finish")]
EtaP90Seconds = Annotated[float | None, Field(description="90th percentile estimate to finish")]


class QueuePosition(BaseModel):
    """Where a job stands (the `queue` event): jobs ahead, whether its queue is
    paused (then no ETA), and the ETA."""

    queue_position: JobsAhead
    queue_paused: QueuePaused
    eta_seconds: EtaSeconds
    eta_p90_seconds: EtaP90Seconds


class Job(BaseModel):
    id: uuid.UUID
    kind: str = Field(json_schema_extra=list_kind_names)
    model: str
    status: JobStatus
    cancel_requested: bool
    priority: int
    retry_of: uuid.UUID | None = Field(description="the failed or canceled job this one runs again")
    progress: Progress
    loss: LatestLoss | None = Field(description="a finetune job's latest training loss; null for other kinds")
    queue_position: JobsAhead
    queue_paused: QueuePaused
    eta_seconds: EtaSeconds
    eta_p90_seconds: EtaP90Seconds
    attempt: int
    params: dict[str, Any] = Field(description="the validated params, defaults and seed filled in")
    result: dict[str, Any] | None = Field(description="the figures a succeeded job measured (its kind's); else null")
    artifacts: list[Artifact]
    webhook: Webhook | None
    error: JobError | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None


class JobPage(BaseModel):
    jobs: list[Job]
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


# [step, loss]: the step from 1, the loss null where it diverged.
LossPoint = Annotated[list[int | float | None], Field(min_length=2, max_length=2)]


class LossSeries(BaseModel):
    points: list[LossPoint] = Field(
        description="[step, loss] in step order, the loss null where it diverged; for a step an attempt"
        " resumed from a checkpoint repeated, its latest value"
    )
