"""The payloads of a job's events (GET /api/v1/jobs/<id>/events, each the JSON
`data` of one Server-Sent Event named by its type)."""

from typing import Annotated

from pydantic import BaseModel, Field, Json
from pydantic.json_schema import SkipJsonSchema

from db.contract.fields import omitted_when_none
from db.contract.jobs import Artifact, JobError, LossPoint, QueuePosition
from db.models import JobStatus

__all__ = [
    "ArtifactsEvent",
    "DoneEvent",
    "EventId",
    "LossEvent",
    "PreviewEvent",
    "ProgressEvent",
    "QueuePosition",
    "ServerSentEvent",
    "StatusEvent",
    "TextEvent",
]


class StatusEvent(BaseModel):
    status: JobStatus
    attempt: int | SkipJsonSchema[None] = omitted_when_none("the attempt it is about (absent on creation)")
    error: JobError | SkipJsonSchema[None] = omitted_when_none("why the attempt failed (failed, or put back)")
    retry_at: str | SkipJsonSchema[None] = omitted_when_none("put back: claimed again no sooner than this")


class ProgressEvent(BaseModel):
    step: int
    total: int


class TextEvent(BaseModel):
    """A text job's output so far."""

    index: int
    text: str


class PreviewEvent(BaseModel):
    """A generate job's image as it denoises (not history: sent live, without an id)."""

    index: int = Field(description="which of the job's images")
    step: int = Field(description="the denoising step it shows")
    total: int = Field(description="of how many (as in progress)")
    image: str = Field(description="a data:image/webp;base64 URI, at most 256 px on its long side")


class LossEvent(BaseModel):
    attempt: int
    points: list[LossPoint] = Field(description="[step, loss] of the steps since the last loss event")


class ArtifactsEvent(BaseModel):
    artifacts: list[Artifact]


class DoneEvent(BaseModel):
    """The last event of every job."""

    status: JobStatus


# Event ids are bigints: 18 digits always fit.
EventId = Annotated[str, Field(pattern=r"^[0-9]{1,18}$")]


class ServerSentEvent(BaseModel):
    """One event of the stream as its text reads: its type, its payload as JSON, its id
    (to resume from with Last-Event-ID; absent on what is told from the row)."""

    event: str
    data: Json[
        StatusEvent | QueuePosition | ProgressEvent | TextEvent | PreviewEvent | LossEvent | ArtifactsEvent | DoneEvent
    ]
    id: EventId | SkipJsonSchema[None] = None
