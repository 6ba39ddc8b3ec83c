"""What a request works with: the app's settings, its database session, the
send-only Celery app, object storage and the owner acting. Built once by
create_app; views reach it through these functions, never through globals."""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from celery import Celery
from flask import current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import NotFound

from db.models import ApiKey
from db.quotas import JobLimits, limits_for
from db.settings import Settings
from db.storage import Storage
from web.owner_turns import OwnerTurns

EXTENSION_NAME = "genq"
READING_METHODS = frozenset({"GET", "HEAD"})
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Platform:
    settings: Settings
    sessions: sessionmaker[Session]
    # Sends wake-up messages only; the web never runs a task.
    celery: Celery
    storage: Storage
    owner_turns: OwnerTurns = field(default_factory=OwnerTurns)

    @property
    def engine(self) -> Engine:
        engine: Engine = self.sessions.kw["bind"]
        return engine


def platform() -> Platform:
    services: Platform = current_app.extensions[EXTENSION_NAME]
    return services


def db_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = platform().sessions()
        if request.method in READING_METHODS:
            # A read needs no transaction around its statements: without one it
            # spends no BEGIN and no ROLLBACK round trip (ops/bench/reads.py).
            g.db_session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    session: Session = g.db_session
    return session


def close_db_session(_error: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def current_api_key() -> ApiKey:
    """The key this request authenticated with (web.auth sets it before any view runs)."""
    key: ApiKey | None = g.get("api_key")
    if key is None:
        raise RuntimeError("no authenticated key: this view is not behind web.auth")
    return key


def admin_only(view: Callable[P, R]) -> Callable[P, R]:
    """For admin keys only (genq keys create --admin): to any other key the view does
    not exist (404, as a path with no route), not forbidden."""

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if not current_api_key().admin:
            raise NotFound()
        return view(*args, **kwargs)

    return guarded


def current_job_limits() -> JobLimits:
    """The job limits of the key in use (its own, else the settings' defaults)."""
    return limits_for(current_api_key(), platform().settings)


def current_owner() -> str:
    """The owner acting; views pass it to every db call, which scopes by it."""
    return current_api_key().owner
