"""What the API shows of the other things an owner has (datasets, adapters,
uploads, the webhook secret) and of the models a job may name."""

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from db.contract.fields import UtcDatetime
from db.registry import ModelKind


class DatasetFile(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read off its row

    index: int = Field(ge=0)
    filename: str = Field(description="as uploaded, sanitised")
    width: int
    height: int
    bytes: int = Field(description="of the stored, re-encoded PNG")
    content_type: Literal["image/png"]
    caption: str | None = Field(description="its .txt file's text")


class Dataset(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read off its row

    id: uuid.UUID
    name: str | None
    files: list[DatasetFile]
    created_at: UtcDatetime


class DatasetPage(BaseModel):
    datasets: list[Dataset]
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class Adapter(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read off its row

    id: uuid.UUID
    name: str
    base_model: str = Field(description="the model it was trained on and may be used with")
    method: Literal["lora"]
    rank: int
    training_job_id: uuid.UUID
    created_at: UtcDatetime


class AdapterPage(BaseModel):
    adapters: list[Adapter]
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class Upload(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read off its row

    id: uuid.UUID = Field(description="what a job's image params take")
    content_type: Literal["image/png"]
    width: int
    height: int
    bytes: int = Field(description="of the stored, re-encoded PNG")
    sha256: str
    created_at: UtcDatetime


class ModelEntry(BaseModel):
    name: str
    origin: str
    kind: ModelKind
    default: bool = Field(description="the default of its kind")


class ModelList(BaseModel):
    models: list[ModelEntry]
    default: str | None = Field(description="the image default (generate and finetune jobs)")
    defaults: dict[ModelKind, str | None] = Field(
        description="each kind's default: image (generate, finetune), text (textgen), speech (speech);"
        " upscale jobs name their upscaler in params.upscaler"
    )


class WebhookSecret(BaseModel):
    secret: str
    header: str = Field(description="the header deliveries carry their signature in")
    format: str = Field(description="how the signature is made")
