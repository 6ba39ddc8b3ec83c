"""What a `genq` command checks before it starts anything: its settings parse, the
broker it needs is named, its kind modules load, its storage URL is one genq
knows, and the database (migrated) and broker it talks to answer. A failure is
one line on stderr naming the variable with an example value, and exit status 2:
never a traceback, never a URL's password."""

import json
import re
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

import click
from pydantic import ValidationError
from pydantic_settings import SettingsError

from db.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

# How long a start-up waits for the database or the broker to answer.
CONNECT_TIMEOUT_SECONDS = 5
_FIELD_IN_SETTINGS_ERROR = re.compile(r'field "(\w+)"')


class Misconfigured(click.ClickException):
    """Shown as one line, `Error: ...`; status 2, as click gives a usage error."""

    exit_code = 2


def checked_settings(
    *,
    database: Literal["migrated", "reachable"] | None = None,
    broker: Literal["needed", "if set"] | None = None,
    kind_modules: bool = False,
    storage: bool = False,
) -> Settings:
    """The settings, once everything this command relies on is there: the broker
    named (`needed`) and answering (`needed`, or `if set`: `genq up` starts an
    embedded one otherwise), the kind modules loaded, the storage URL understood,
    the database answering (`reachable`: `genq up` and `genq migrate` migrate it)
    and at the latest schema (`migrated`)."""
    try:
        settings = get_settings()
    except ValidationError as error:
        raise Misconfigured(_invalid_setting(error)) from None
    except SettingsError as error:  # a list or dict variable that is not JSON
        found = _FIELD_IN_SETTINGS_ERROR.search(str(error))
        name = found.group(1) if found else "?"
        raise Misconfigured(f"{variable(name)} is not valid JSON ({example(name)})") from None
    if broker == "needed" and not settings.broker_url:
        raise Misconfigured(
            f"GENQ_BROKER_URL is not set: point it at Redis ({example('broker_url')}),"
            " or run `genq up`, which starts an embedded one"
        )
    if kind_modules:
        _load_kind_modules(settings)
    if storage:
        _open_storage(settings)
    if broker is not None and settings.broker_url:
        _reach_broker(settings.broker_url)
    if database:  # last: reaching SQLite creates its file
        _reach_database(settings.database_url, migrated=database == "migrated")
    return settings


def variable(field_name: str) -> str:
    return f"GENQ_{field_name.upper()}"


def example(field_name: str) -> str:
    """`e.g. GENQ_NAME=value`: the field's first example, else its default."""
    field = Settings.model_fields[field_name]
    value = field.examples[0] if field.examples else field.get_default(call_default_factory=True)
    shown = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return f"e.g. {variable(field_name)}={shown}"


def url_without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _invalid_setting(error: ValidationError) -> str:
    first, *others = error.errors()
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(others)} more)" if others else ""
    if not first["loc"]:  # a rule across variables, whose message names them
        return f"{message}{more}"
    name = str(first["loc"][0])
    return f"{variable(name)}={first['input']!r} is invalid: {message} ({example(name)}){more}"


def _load_kind_modules(settings: Settings) -> None:
    from db.kinds import KindModuleInvalid, load_kind_modules

    try:
        load_kind_modules(settings.kind_modules)
    except (ImportError, KindModuleInvalid) as error:
        raise Misconfigured(f"GENQ_KIND_MODULES: {error} ({example('kind_modules')})") from None


def _open_storage(settings: Settings) -> None:
    from db.storage import make_storage

    try:
        make_storage(settings)
    except ValueError as error:
        raise Misconfigured(f"{error} ({example('storage_url')})") from None


def _reach_database(database_url: str, *, migrated: bool) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from db.session import make_engine

    shown = url_without_password(database_url)
    try:
        url = make_url(database_url)
        if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
            url = url.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
        engine = make_engine(url.render_as_string(hide_password=False))
    except (ArgumentError, ImportError, ValueError, OSError) as error:
        raise Misconfigured(f"GENQ_DATABASE_URL={shown} is invalid: {error} ({example('database_url')})") from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            behind = migrated and _schema_behind(connection)
    except (SQLAlchemyError, OSError) as error:
        reason = _first_line(getattr(error, "orig", None) or error, database_url)
        raise Misconfigured(f"the database at {shown} (GENQ_DATABASE_URL) does not answer: {reason}") from None
    finally:
        engine.dispose()
    if behind:
        raise Misconfigured(f"the database at {shown} (GENQ_DATABASE_URL) is not migrated: run `genq migrate` first")


def _schema_behind(connection: "Connection") -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from migrations import alembic_config

    # The scripts' heads: the configuration's URL is not read for them.
    heads = set(ScriptDirectory.from_config(alembic_config("")).get_heads())
    return set(MigrationContext.configure(connection).get_current_heads()) != heads


def _reach_broker(broker_url: str) -> None:
    from kombu import Connection
    from kombu.exceptions import KombuError

    shown = url_without_password(broker_url)
    try:
        with Connection(broker_url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1)
    except (KombuError, OSError) as error:
        reason = _first_line(error, broker_url)
        raise Misconfigured(f"the broker at {shown} (GENQ_BROKER_URL) does not answer: {reason}") from None
    except (KeyError, ValueError, ImportError) as error:  # kombu knows no such transport
        raise Misconfigured(f"GENQ_BROKER_URL={shown} is invalid: {error!r} ({example('broker_url')})") from None


def _first_line(error: BaseException, url: str) -> str:
    # A driver's message may quote the URL it was given; the password stays out.
    line = (str(error).strip().splitlines() or [type(error).__name__])[0].strip()
    password = urlsplit(url).password
    return line.replace(password, "***") if password else line
