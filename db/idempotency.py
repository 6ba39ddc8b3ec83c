"""Idempotent submission: a request with an Idempotency-Key makes at most one job
per owner and key. The same key with the same body finds that job again; with
another body it is refused (IdempotencyKeyReused).

The guarantee is the UNIQUE(owner, idempotency_key) constraint: insert, and on
a conflict load the winner. Never replace that with check-then-insert; the
look-up before the insert is only a shortcut for replays.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.jobs import create_job
from db.models import Job
from db.refusals import IdempotencyKeyReused

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class IdempotentRequest:
    key: str
    request_hash: str


def request_hash(body: Any) -> str:
    """SHA-256 of the body as canonical JSON (sorted keys, no spaces), so key order
    and formatting do not make two equal requests differ."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_earlier_job(session: Session, owner: str, request: IdempotentRequest) -> Job | None:
    """The job an earlier request with this key made, if any; raises
    IdempotencyKeyReused when that request had another body."""
    job = session.scalars(select(Job).where(Job.owner == owner, Job.idempotency_key == request.key)).one_or_none()
    if job is not None and job.request_hash != request.request_hash:
        raise IdempotencyKeyReused()
    return job


def create_job_once(session: Session, *, owner: str, request: IdempotentRequest, **job_fields: Any) -> tuple[Job, bool]:
    """Create the job unless this owner's key already has one; returns the job and
    whether it was created here. Concurrent callers with one key wait on the unique
    index until the first commits, then find its job."""
    try:
        with session.begin_nested():
            job = create_job(
                session, owner=owner, idempotency_key=request.key, request_hash=request.request_hash, **job_fields
            )
        return job, True
    except IntegrityError:
        earlier = find_earlier_job(session, owner, request)
        if earlier is None:
            raise  # another constraint than the key's
        return earlier, False
