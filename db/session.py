"""Engine and session factory, and what an unreachable database looks like.
SQLite (the embedded first run) runs in WAL mode so the web and the worker can
read while the other writes."""

from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Executable, create_engine, event
from sqlalchemy import exc as sql_errors
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    if url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def make_session_factory(database_url: str) -> sessionmaker[Session]:
    return sessionmaker(make_engine(database_url), expire_on_commit=False)


def is_database_outage(error: BaseException) -> bool:
    """The database did not answer (down, restarting, unreachable, out of
    connections, SQLite locked): the same statement may succeed in a moment."""
    if isinstance(error, sql_errors.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error,
        sql_errors.OperationalError
        | sql_errors.InterfaceError
        | sql_errors.DisconnectionError
        | sql_errors.TimeoutError,
    )


def rows_changed(session: Session, statement: Executable) -> int:
    """How many rows an UPDATE or DELETE matched. Session.execute is typed as
    returning a Result; for these statements it is a cursor's, which counts them."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount
