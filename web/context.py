"""What a request works with: the app's settings, its database session, the
send-only Celery app, object storage and the owner acting. Built once by
create_app; views reach it through these functions, never through globals."""

from dataclasses import dataclass

from celery import Celery
from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.jobs import LOCAL_OWNER
from db.settings import Settings
from db.storage import Storage

EXTENSION_NAME = "genq"


@dataclass(frozen=True)
class Platform:
    settings: Settings
    sessions: sessionmaker[Session]
    # Sends wake-up messages only; the web never runs a task.
    celery: Celery
    storage: Storage

    @property
    def engine(self) -> Engine:
        return self.sessions.kw["bind"]


def platform() -> Platform:
    return current_app.extensions[EXTENSION_NAME]


def db_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = platform().sessions()
    return g.db_session


def close_db_session(_error: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def current_owner() -> str:
    # Every job belongs to the local owner until API keys exist (issue 6); the
    # owner is passed to every db call so only this function changes then.
    return LOCAL_OWNER
