"""Retention: what a finished job, an upload or a dataset leaves in storage and in
the database goes once it is older than the settings say (an owner may override
each: Owner.retention). One bounded round of the sweep per call, by one process
at a time (db/sweeper_lock.py); the workers' maintenance thread calls it. Each
stage deletes objects first, then records it (or deletes the rows), so no object
is left that no row names; every stage is conditional and may be run again.

Stages, each counted from when the job finished or the upload was made:
leftovers (GENQ_CHECKPOINT_RETENTION_HOURS): the objects under a job's folder no
artifact references (a training's checkpoint, a lost attempt's late objects),
found by listing the folder; results (GENQ_RESULT_RETENTION_DAYS): the artifacts'
objects, not an adapter's weights while the adapter exists, the rows saying
`expired`; jobs (GENQ_JOB_RETENTION_DAYS): the rows, with their events, but not a
job whose adapter exists; uploads and datasets (GENQ_UPLOAD_RETENTION_DAYS): the
ones no queued or running job names.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, func, select, true, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from db.deletion import delete_datasets, delete_job_objects, delete_job_rows, delete_uploads, has_adapter, ids_in_use
from db.models import FINISHED_STATUSES, Adapter, Artifact, Dataset, Job, Owner, Upload, utcnow
from db.settings import Settings
from db.storage import Storage
from db.sweeper_lock import sweeper_lock

log = logging.getLogger(__name__)
Row = TypeVar("Row")
Unused = TypeVar("Unused", Upload, Dataset)


@dataclass(frozen=True)
class Retention:
    """How long each thing is kept (the settings' defaults: from_settings); None: for ever."""

    result_days: float | None
    checkpoint_hours: float | None
    upload_days: float | None
    job_days: float | None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Retention":
        return cls(
            result_days=settings.result_retention_days,
            checkpoint_hours=settings.checkpoint_retention_hours,
            upload_days=settings.upload_retention_days,
            job_days=settings.job_retention_days,
        )

    def overridden(self, overrides: Mapping[str, Any] | None) -> "Retention":
        """With an owner's overrides (absent: the default, null: for ever)."""
        return replace(self, **{name: value for name, value in (overrides or {}).items() if name in RETENTION_FIELDS})


RETENTION_FIELDS = tuple(field.name for field in fields(Retention))


@dataclass(frozen=True)
class OwnerGroup:
    """Owners kept by one retention: those named, or (owners None) all but `others`."""

    retention: Retention
    owners: tuple[str, ...] | None
    others: tuple[str, ...] = ()

    def where(self, owner: SQLColumnExpression[str]) -> ColumnElement[bool]:
        if self.owners is not None:
            return owner.in_(self.owners)
        return owner.not_in(self.others) if self.others else true()


@dataclass
class Swept:
    """What one round swept: jobs whose leftovers or results went, job rows,
    uploads and datasets."""

    leftovers: int = 0
    results: int = 0
    jobs: int = 0
    uploads: int = 0
    datasets: int = 0

    def __bool__(self) -> bool:
        return any((self.leftovers, self.results, self.jobs, self.uploads, self.datasets))


def owner_retention(session: Session, owner: str, settings: Settings) -> Retention:
    overrides = session.scalar(select(Owner.retention).where(Owner.name == owner))
    return Retention.from_settings(settings).overridden(overrides)


def override_owner_retention(
    session: Session, owner: str, *, kept: Mapping[str, float | None], defaults: Iterable[str] = ()
) -> dict[str, float | None]:
    """Set the owner's overrides in `kept` (None: for ever) and drop those named in
    `defaults`; the overrides now. LookupError when there is no such owner."""
    row = session.get(Owner, owner)
    if row is None:
        raise LookupError(f"no owner {owner!r} (genq keys create --owner makes one)")
    defaults = set(defaults)
    unknown = (set(kept) | defaults) - set(RETENTION_FIELDS)
    if unknown:
        raise ValueError(f"not a retention: {', '.join(sorted(unknown))}")
    overrides = {name: value for name, value in (row.retention or {}).items() if name not in defaults}
    overrides.update(kept)
    row.retention = overrides or None  # a new value: the JSON column sees the change
    session.flush()
    return overrides


def owner_groups(session: Session, default: Retention) -> list[OwnerGroup]:
    """The default's group, then one per retention that owners' overrides make."""
    # .all(): a Result has keys() (its columns), which dict() would take it by.
    overriding: dict[str, dict[str, Any]] = dict(
        session.execute(select(Owner.name, Owner.retention).where(Owner.retention.is_not(None))).all()
    )
    by_retention: dict[Retention, list[str]] = defaultdict(list)
    for name, overrides in overriding.items():
        by_retention[default.overridden(overrides)].append(name)
    return [
        OwnerGroup(default, None, tuple(overriding)),
        *(OwnerGroup(retention, tuple(names)) for retention, names in by_retention.items()),
    ]


def sweep_expired(
    sessions: sessionmaker[Session], storage: Storage, settings: Settings, *, now: datetime | None = None
) -> Swept | None:
    """One round: at most retention_batch_size jobs, uploads or datasets per stage;
    None when another process holds the sweeper's lock."""
    now = now or utcnow()
    with sweeper_lock(sessions.kw["bind"]) as held:
        if not held:
            return None
        with sessions() as session:
            groups = owner_groups(session, Retention.from_settings(settings))
        sweep = _Sweep(sessions, storage, groups, now, settings.retention_batch_size)
        return Swept(
            leftovers=sweep.leftovers(),
            results=sweep.results(),
            jobs=sweep.jobs(),
            uploads=sweep.uploads(),
            datasets=sweep.datasets(),
        )


@dataclass(frozen=True)
class _Sweep:
    sessions: sessionmaker[Session]
    storage: Storage
    groups: Sequence[OwnerGroup]
    now: datetime
    limit: int

    def _due(
        self,
        session: Session,
        period: Callable[[Retention], timedelta | None],
        query: Callable[[OwnerGroup, datetime], Select[Row]],
    ) -> list[Row]:
        """The rows `query` finds older than each group's `period`, up to the limit."""
        found: list[Row] = []
        for group in self.groups:
            kept_for = period(group.retention)
            if kept_for is None or len(found) >= self.limit:
                continue
            found += session.scalars(query(group, self.now - kept_for).limit(self.limit - len(found)))
        return found

    def _finished_before(self, group: OwnerGroup, cutoff: datetime, unswept: ColumnElement[bool]) -> Select[Job]:
        return (
            select(Job)
            .where(Job.finished_at.is_not(None), Job.finished_at < cutoff, unswept, Job.status.in_(FINISHED_STATUSES))
            .where(group.where(Job.owner))
            .order_by(Job.finished_at)
            .options(selectinload(Job.artifacts))
        )

    def _each_job(self, keeps: Mapping[uuid.UUID, set[str]]) -> list[uuid.UUID]:
        """Delete each job's objects but those kept; the jobs whose deletion went through."""
        done = []
        for job_id, keep in keeps.items():
            try:
                delete_job_objects(self.storage, job_id, keep)
            except Exception as error:
                log.warning("could not delete the objects of job %s: %s", job_id, error)
                continue
            done.append(job_id)
        return done

    def leftovers(self) -> int:
        with self.sessions() as session:
            jobs: list[Job] = self._due(
                session,
                lambda retention: _hours(retention.checkpoint_hours),
                lambda group, cutoff: self._finished_before(group, cutoff, Job.leftovers_swept_at.is_(None)),
            )
            keeps = {job.id: {a.storage_key for a in job.artifacts if a.expired_at is None} for job in jobs}
        done = self._each_job(keeps)
        with self.sessions.begin() as session:
            session.execute(update(Job).where(Job.id.in_(done)).values(leftovers_swept_at=self.now))
        return len(done)

    def results(self) -> int:
        with self.sessions() as session:
            jobs: list[Job] = self._due(
                session,
                lambda retention: _days(retention.result_days),
                lambda group, cutoff: self._finished_before(group, cutoff, Job.results_swept_at.is_(None)),
            )
            weights = set(
                session.scalars(
                    select(Adapter.artifact_id).where(Adapter.training_job_id.in_([job.id for job in jobs]))
                )
            )
            keeps = {job.id: {a.storage_key for a in job.artifacts if a.id in weights} for job in jobs}
        done = self._each_job(keeps)
        with self.sessions.begin() as session:
            session.execute(
                update(Artifact)
                .where(
                    Artifact.job_id.in_(done),
                    Artifact.expired_at.is_(None),
                    Artifact.id.not_in(select(Adapter.artifact_id)),
                )
                .values(expired_at=self.now)
            )
            session.execute(
                update(Job)
                .where(Job.id.in_(done))
                .values(results_swept_at=self.now, leftovers_swept_at=func.coalesce(Job.leftovers_swept_at, self.now))
            )
        return len(done)

    def jobs(self) -> int:
        with self.sessions() as session:
            jobs: list[Job] = self._due(
                session,
                lambda retention: _days(retention.job_days),
                lambda group, cutoff: self._finished_before(group, cutoff, ~has_adapter(Job.id)),
            )
            job_ids = [job.id for job in jobs]
        done = self._each_job({job_id: set() for job_id in job_ids})
        with self.sessions.begin() as session:
            return delete_job_rows(session, done)

    def uploads(self) -> int:
        return self._unused(Upload, delete_uploads)

    def datasets(self) -> int:
        return self._unused(Dataset, delete_datasets)

    def _unused(self, model: type[Unused], delete_rows: Callable[[Session, Storage, Sequence[Unused]], None]) -> int:
        """Delete the uploads or datasets older than upload_days that no job in flight names."""
        with self.sessions.begin() as session:
            rows: list[Unused] = self._due(
                session,
                lambda retention: _days(retention.upload_days),
                lambda group, cutoff: (
                    select(model).where(model.created_at < cutoff, group.where(model.owner)).order_by(model.created_at)
                ),
            )
            in_use = ids_in_use(session, model, [row.id for row in rows])
            unused = [row for row in rows if row.id not in in_use]
            delete_rows(session, self.storage, unused)
        return len(unused)


def _days(days: float | None) -> timedelta | None:
    return None if days is None else timedelta(days=days)


def _hours(hours: float | None) -> timedelta | None:
    return None if hours is None else timedelta(hours=hours)
