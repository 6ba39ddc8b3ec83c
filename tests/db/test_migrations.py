"""The Alembic history builds exactly the schema the models describe, on Postgres
and on SQLite (the embedded first run)."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from db.models import Base
from db.session import make_engine
from migrations import upgrade_to_head
from tests.support.services import postgres_database


def schema_diff(database_url: str) -> list:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    return diff


def test_upgrade_head_on_postgres_matches_the_models():
    with postgres_database() as url:
        upgrade_to_head(url)
        assert schema_diff(url) == []


def test_upgrade_head_on_sqlite_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'var' / 'genq.db'}"
    upgrade_to_head(url)
    upgrade_to_head(url)  # a second run (make run again) is a no-op
    engine = make_engine(url)
    assert {"jobs", "artifacts", "alembic_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()
    assert schema_diff(url) == []
