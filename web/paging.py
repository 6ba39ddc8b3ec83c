"""Pages of an owner's jobs, newest first, behind an opaque cursor.

The cursor is base64url of the last job's (created_at, id); clients must treat
it as opaque, so its format may change without a new API version.
"""

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from db.jobs import list_jobs
from db.models import Job


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None  # None on the last page


def encode_cursor(job: Job) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at_text, _, job_id_text = raw.partition("|")
        created_at = datetime.fromisoformat(created_at_text)
        job_id = uuid.UUID(job_id_text)
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        raise InvalidCursor(cursor) from None
    if created_at.tzinfo is None:
        raise InvalidCursor(cursor)
    return created_at, job_id


def page_of_jobs(
    session: Session,
    *,
    owner: str,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> JobPage:
    before = decode_cursor(cursor) if cursor else None
    # One row more than asked tells whether another page exists, so the last
    # page never hands out a cursor to an empty one.
    jobs = list_jobs(session, owner=owner, status=status, kind=kind, before=before, limit=limit + 1)
    if len(jobs) <= limit:
        return JobPage(jobs, None)
    return JobPage(jobs[:limit], encode_cursor(jobs[limit - 1]))
