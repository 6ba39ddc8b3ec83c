"""The API's contract: one pydantic model per response shape (job, artifact, pages,
dataset, adapter, upload, model list, error, events' payloads). Code that answers
builds these models and sends model_dump(mode="json"); web/api/openapi.py turns
the same models into the OpenAPI document, so the two cannot drift.

Pydantic only: the web and the worker (webhook bodies) both describe jobs here.
"""

from db.contract.errors import Error, ErrorBody, FieldError
from db.contract.events import (
    ArtifactsEvent,
    DoneEvent,
    EventId,
    LossEvent,
    ProgressEvent,
    QueuePosition,
    ServerSentEvent,
    StatusEvent,
    TextEvent,
)
from db.contract.jobs import (
    Artifact,
    Job,
    JobError,
    JobPage,
    LatestLoss,
    LossSeries,
    Progress,
    TokenUsage,
    Webhook,
    WebhookDelivery,
)
from db.contract.resources import (
    Adapter,
    AdapterPage,
    Dataset,
    DatasetFile,
    DatasetPage,
    ModelEntry,
    ModelList,
    Upload,
    WebhookSecret,
)

__all__ = [
    "Adapter",
    "AdapterPage",
    "Artifact",
    "ArtifactsEvent",
    "Dataset",
    "DatasetFile",
    "DatasetPage",
    "DoneEvent",
    "Error",
    "EventId",
    "ErrorBody",
    "FieldError",
    "Job",
    "JobError",
    "JobPage",
    "LatestLoss",
    "LossEvent",
    "LossSeries",
    "ModelEntry",
    "ModelList",
    "Progress",
    "ProgressEvent",
    "QueuePosition",
    "ServerSentEvent",
    "StatusEvent",
    "TextEvent",
    "TokenUsage",
    "Upload",
    "Webhook",
    "WebhookDelivery",
    "WebhookSecret",
]
