"""The job limits of an API key, enforced when a job is created: jobs queued or
running, and images requested per UTC day. Limits are set on a key (or default
from settings) and counted over its owner's jobs. Checked in the same
transaction that creates the job, with the owner's row locked, so concurrent
submissions cannot overshoot a limit. Never counts another owner's jobs.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from db.kinds import job_kinds
from db.models import ACTIVE_STATUSES, ApiKey, Job, JobStatus, Owner, utcnow
from db.refusals import QuotaExceeded
from db.settings import Settings

# A guess for clients: jobs finish in seconds to minutes; polling faster helps no one.
ACTIVE_JOBS_RETRY_SECONDS = 10


@dataclass(frozen=True)
class JobLimits:
    max_active_jobs: int
    daily_image_budget: int | None  # None: no budget


def limits_for(key: ApiKey, settings: Settings) -> JobLimits:
    return JobLimits(
        max_active_jobs=key.max_active_jobs or settings.max_active_jobs,
        daily_image_budget=key.daily_image_budget or settings.daily_image_budget,
    )


def active_job_count(session: Session, owner: str) -> int:
    return session.scalars(select(func.count()).where(Job.owner == owner, Job.status.in_(ACTIVE_STATUSES))).one()


def images_requested_since(session: Session, owner: str, since: datetime) -> int:
    """Images asked for since `since` (each kind's quota units, in SQL); a job
    canceled before it started used nothing and does not count."""
    never_ran = (Job.status == JobStatus.CANCELED) & Job.started_at.is_(None)
    counted = [(Job.kind == kind.name, kind.quota.sql()) for kind in job_kinds().values() if kind.quota is not None]
    images = case(*counted, else_=0) if counted else literal(0)
    return int(
        session.scalars(
            select(func.coalesce(func.sum(images), 0)).where(Job.owner == owner, Job.created_at >= since, ~never_ran)
        ).one()
    )


def enforce_job_limits(session: Session, owner: str, limits: JobLimits, *, images: int) -> None:
    """Raise QuotaExceeded if one more job asking for `images` images breaks a limit.

    Locks the owner's row until the caller's transaction ends (no-op on SQLite,
    which has one writer at a time anyway)."""
    session.execute(select(Owner.name).where(Owner.name == owner).with_for_update())
    active = active_job_count(session, owner)
    if active >= limits.max_active_jobs:
        raise QuotaExceeded(
            "too_many_active_jobs",
            f"{active} of your jobs are queued or running and this key allows "
            f"{limits.max_active_jobs}; wait for one to finish or cancel one",
            ACTIVE_JOBS_RETRY_SECONDS,
        )
    if limits.daily_image_budget is None or not images:
        return
    now = utcnow()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    used = images_requested_since(session, owner, day_start)
    if used + images > limits.daily_image_budget:
        seconds_to_midnight = int((day_start + timedelta(days=1) - now).total_seconds()) + 1
        raise QuotaExceeded(
            "daily_budget_exceeded",
            f"this key allows {limits.daily_image_budget} images per UTC day; {used} were "
            f"requested today and this job asks for {images}",
            seconds_to_midnight,
        )
