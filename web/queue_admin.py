"""Pausing and resuming a kind's queue, shared by the admin API and the /admin page:
the change is committed, and a resume sends at once the wake-ups the pause held back."""

from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from db.kinds import find_kind
from db.outbox import resend_owed_wake_ups
from db.queue_admin import pause_queue, resume_queue
from web.context import Platform


def known_kind(kind: str) -> str:
    if find_kind(kind) is None:
        raise NotFound()
    return kind


def pause_kind(session: Session, kind: str, *, by: str) -> None:
    pause_queue(session, known_kind(kind), by=by)
    session.commit()


def resume_kind(session: Session, services: Platform, kind: str) -> None:
    resume_queue(session, known_kind(kind))
    session.commit()
    resend_owed_wake_ups(services.sessions, services.celery, resend_after_seconds=0)
