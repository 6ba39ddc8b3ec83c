"""The `finetune` kind: LoRA training on one of the owner's datasets, on its own
queue (it holds a GPU for minutes to hours); its validation images count
against the daily budget, and a success records the trained adapter."""

import uuid
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from db.kinds.definition import JobKind, QuotaUnits
from db.kinds.references import DatasetReference
from db.models import Adapter, Job
from db.specs import MAX_SEED, MULTIPLE_OF_8, NOT_BLANK, Capped, JsonBody, Prompt, random_seed

# Training holds a GPU for minutes to hours: its own queue, so a generate-only
# worker (`genq worker --queues generate`) never picks it up.
FINETUNE_QUEUE = "finetune"

LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
ADAPTER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$"
MAX_CHECKPOINTS = 100


class FinetuneSpec(JsonBody):
    """Params of a LoRA training job: the names, meanings and defaults of diffusers'
    train_dreambooth_lora.py (max_train_steps, which the script derives from epochs
    when absent, defaults to 500 here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["lora"] = "lora"
    dataset_id: uuid.UUID
    # The prompt of every image without a caption file of its own.
    instance_prompt: Annotated[Prompt, NOT_BLANK] = Field(min_length=1)
    resolution: Annotated[int, MULTIPLE_OF_8, Capped("max_train_resolution")] = Field(default=512, ge=64)
    max_train_steps: Annotated[int, Capped("max_train_steps")] = Field(default=500, ge=1)
    learning_rate: float = Field(default=5e-4, gt=0, le=1)
    rank: Annotated[int, Capped("max_lora_rank")] = Field(default=4, ge=1)
    # None: equal to rank, as the script sets it.
    lora_alpha: float | None = Field(default=None, gt=0)
    batch_size: Annotated[int, Capped("max_train_batch_size")] = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=64)
    lr_scheduler: Literal[LR_SCHEDULERS] = "constant"  # type: ignore[valid-type]
    lr_warmup_steps: int = Field(default=500, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    seed: int = Field(default_factory=random_seed, ge=0, le=MAX_SEED)
    validation_prompt: Annotated[Prompt, NOT_BLANK] | None = Field(default=None, min_length=1)
    num_validation_images: int = Field(default=4, ge=1, le=8)
    # The script's default is 500, its default run's length: a run that short would
    # never be saved, and a crashed job would start over instead of resuming.
    checkpointing_steps: int = Field(default=100, ge=1)
    # None: named after the training job.
    adapter_name: str | None = Field(default=None, pattern=ADAPTER_NAME_PATTERN)

    @model_validator(mode="after")
    def _checkpoints_within_cap(self) -> "FinetuneSpec":
        # Each checkpoint writes the LoRA and the optimizer state to storage.
        if self.max_train_steps > MAX_CHECKPOINTS * self.checkpointing_steps:
            fewest = -(-self.max_train_steps // MAX_CHECKPOINTS)
            raise ValueError(
                f"checkpointing_steps must be at least {fewest}: at most {MAX_CHECKPOINTS} checkpoints per training"
            )
        return self


def record_trained_adapter(session: Session, job: Job) -> None:
    """A trained job always has its adapter row: recorded in the transaction that
    records its success, its weights being the job's `adapter` artifact."""
    spec = FinetuneSpec.model_validate(job.params)
    [weights] = [artifact for artifact in job.artifacts if artifact.kind == "adapter"]
    adapter = Adapter(
        owner=job.owner,
        name=spec.adapter_name or f"lora-{job.id.hex[:8]}",
        base_model=job.model,
        method=spec.method,
        rank=spec.rank,
        training_job_id=job.id,
        artifact_id=weights.id,
    )
    session.add(adapter)
    session.flush()


KIND = JobKind(
    name="finetune",
    spec=FinetuneSpec,
    queue=FINETUNE_QUEUE,
    model_kind="image",
    executor_module="worker.executors.finetune",
    steps_param="max_train_steps",
    eta_params=("resolution", "batch_size", "gradient_accumulation_steps", "rank"),
    quota=QuotaUnits("num_validation_images", only_with="validation_prompt"),
    references=(DatasetReference("dataset_id"),),
    records_loss=True,
    on_success=record_trained_adapter,
)
