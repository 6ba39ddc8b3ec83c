"""SQLAlchemy 2 typed models: jobs, their artifacts and events, owners and their
API keys, webhook deliveries, uploaded datasets and trained adapters.

Postgres is the only truth about a job; Redis only carries job ids. The schema
is created by Alembic (migrations/), never by metadata.create_all in production.
"""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class JobStatus(StrEnum):
    """Where a job is in its life (db/jobs.py moves it): queued -> running ->
    succeeded | failed | canceled; running -> queued again for a retry."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


LEFTOVERS_UNSWEPT = text("finished_at IS NOT NULL AND leftovers_swept_at IS NULL")
RESULTS_UNSWEPT = text("finished_at IS NOT NULL AND results_swept_at IS NULL")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(str(status)) for status in JobStatus)})", name="status"),
        Index(None, "status", "kind", "priority", "created_at"),
        Index(None, "owner", "created_at"),
        # The fair-share claim asks for each waiting owner's most recent claim
        # and its running jobs: those among few rows, not the owner's whole history.
        Index(None, "owner", "kind", "started_at"),
        Index(
            "ix_jobs_running_owner_kind",
            "owner",
            "kind",
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
        # ETAs read the most recent finished runs of a model (db/eta.py).
        Index(None, "model", "finished_at"),
        # The retention sweep (db/retention.py) finds finished jobs by age among
        # those whose stage is still ahead, not among the whole history.
        Index(None, "finished_at"),
        Index(
            "ix_jobs_leftovers_unswept",
            "finished_at",
            postgresql_where=LEFTOVERS_UNSWEPT,
            sqlite_where=LEFTOVERS_UNSWEPT,
        ),
        Index("ix_jobs_results_unswept", "finished_at", postgresql_where=RESULTS_UNSWEPT, sqlite_where=RESULTS_UNSWEPT),
        UniqueConstraint("owner", "idempotency_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]]

    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)

    # Each claim increments attempt; the worker's writes are conditioned on it.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # A job put back for a retry is not claimed before this (backoff); None: at once.
    retry_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)

    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_events: Mapped[list[str] | None] = mapped_column(JSON)

    # When the wake-up message last left for the broker; the reconciler re-sends
    # queued jobs whose message never left or was lost with the broker.
    enqueued_at: Mapped[datetime | None]
    # Measured seconds per progress step of the finished run, for ETAs.
    step_seconds: Mapped[float | None] = mapped_column(Float)
    # The failed or canceled job this one runs again (POST /api/v1/jobs/<id>/retry).
    retry_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    # The figures a succeeded job measured (an evaluation's scores); None for most kinds.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # When the retention sweep deleted the objects under the job's folder that no
    # artifact references (its checkpoint, a lost attempt's), and when it deleted
    # its artifacts' objects (db/retention.py); None: not yet.
    leftovers_swept_at: Mapped[datetime | None]
    results_swept_at: Mapped[datetime | None]

    artifacts: Mapped[list["Artifact"]] = relationship(
        back_populates="job", order_by="Artifact.index", cascade="all, delete-orphan"
    )

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "index"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    storage_key: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(128))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    # A text artifact's content (textgen), so the job's JSON can carry it.
    text: Mapped[str | None] = mapped_column(Text)
    # A text artifact's: why its generation ended (stop, length) and its token counts.
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    # An audio artifact's (speech): samples per second and length.
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    # An image's CLIP score against its prompt, when the job asked for one.
    clip_score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When its object was deleted (retention, or its adapter deleted): the row stays
    # with the job, and says the artifact expired.
    expired_at: Mapped[datetime | None]

    job: Mapped[Job] = relationship(back_populates="artifacts")


class JobEvent(Base):
    """Append-only history of a job (status, progress, loss, artifacts, done): the
    event stream's source and its resume point (Last-Event-ID is the id)."""

    __tablename__ = "job_events"
    __table_args__ = (Index(None, "job_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Owner(Base):
    """Whoever jobs, artifacts, datasets and adapters belong to; holds the secret
    that signs the owner's webhooks."""

    __tablename__ = "owners"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_secret: Mapped[str] = mapped_column(String(128))
    # Overrides of the settings' retention ({"result_days": 7, "job_days": null, ...};
    # a null value keeps for ever, an absent one is the default): db/retention.py.
    retention: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key: only its visible prefix and the SHA-256 of the whole key are stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(ForeignKey("owners.name", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    # Limits; None means the settings' default.
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    max_active_jobs: Mapped[int | None] = mapped_column(Integer)
    daily_image_budget: Mapped[int | None] = mapped_column(Integer)
    # An admin key also reaches /api/v1/admin and /admin (queue administration).
    admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One attempt to POST a job's event to its webhook_url."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index(None, "job_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    """Images (and optional captions) a user uploaded to train on. The files are in
    object storage, re-encoded at upload; rows only describe them."""

    __tablename__ = "datasets"
    __table_args__ = (Index(None, "owner", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100))
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    files: Mapped[list["DatasetFile"]] = relationship(
        back_populates="dataset", order_by="DatasetFile.index", cascade="all, delete-orphan"
    )


class DatasetFile(Base):
    __tablename__ = "dataset_files"
    __table_args__ = (UniqueConstraint("dataset_id", "index"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    # The name it was uploaded under (sanitised), which its caption file matched.
    filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(128))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    caption: Mapped[str | None] = mapped_column(Text)

    dataset: Mapped[Dataset] = relationship(back_populates="files")


class Adapter(Base):
    """LoRA weights a finetune job trained, usable by later generate jobs of the same
    owner on the same base model. The weights are the training job's `adapter` artifact."""

    __tablename__ = "adapters"
    __table_args__ = (
        Index(None, "owner", "created_at"),
        # One adapter per training job, however often its finish is retried.
        UniqueConstraint("training_job_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    base_model: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(16), default="lora")
    rank: Mapped[int] = mapped_column(Integer)
    training_job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    artifact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    artifact: Mapped[Artifact] = relationship()


class Upload(Base):
    """An input image a user uploaded for jobs to read (image-to-image, inpainting,
    upscaling), re-encoded at upload as datasets' images are; jobs hold its id."""

    __tablename__ = "uploads"
    __table_args__ = (Index(None, "owner", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueuePause(Base):
    """A kind whose queued jobs no worker claims until an admin resumes it; submits
    are still accepted and queued."""

    __tablename__ = "queue_pauses"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    paused_by: Mapped[str] = mapped_column(String(64))
    paused_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerSeen(Base):
    """A worker process and the kinds it takes, as its upkeep round last reported them."""

    __tablename__ = "workers_seen"

    worker_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kinds: Mapped[list[str]]
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class A1111Options(Base):
    """The settings an owner set through AUTOMATIC1111's POST /sdapi/v1/options:
    each owner's own, never the server's (A1111 keeps one set for everyone)."""

    __tablename__ = "a1111_options"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The image model the owner's /sdapi/v1 jobs run on when a call names none.
    sd_model_checkpoint: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
