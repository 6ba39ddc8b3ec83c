"""Engine and session factory, and what an unreachable database looks like.
SQLite (the embedded first run) runs in WAL mode so the web and the worker can
read while the other writes."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Executable, create_engine, event
from sqlalchemy import exc as sql_errors
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


@dataclass(frozen=True)
class PoolBounds:
    """At most `size` connections; a checkout waits at most `timeout_seconds` for one
    (then sqlalchemy's TimeoutError). Without bounds, SQLAlchemy's defaults."""

    size: int
    timeout_seconds: float

    def engine_options(self) -> dict[str, Any]:
        return {"pool_size": self.size, "max_overflow": 0, "pool_timeout": self.timeout_seconds}


def make_engine(database_url: str, bounds: PoolBounds | None = None) -> Engine:
    url = make_url(database_url)
    pool = bounds.engine_options() if bounds is not None else {}
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **pool)

    if url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, **pool)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def make_session_factory(database_url: str, bounds: PoolBounds | None = None) -> sessionmaker[Session]:
    return sessionmaker(make_engine(database_url, bounds), expire_on_commit=False)


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
