"""A session on the test database (emptied for each test by the `settings` fixture),
and session factories on Postgres and SQLite for what must work on both."""

import pytest

from db.session import make_session_factory
from migrations import upgrade_to_head


@pytest.fixture
def session(settings):
    factory = make_session_factory(settings.database_url)
    with factory() as session:
        yield session
    factory.kw["bind"].dispose()


@pytest.fixture(params=["postgres", "sqlite"])
def sessions(request, tmp_path):
    """Sessions on Postgres, then on SQLite (the embedded mode)."""
    if request.param == "postgres":
        url = request.getfixturevalue("settings").database_url
    else:
        url = f"sqlite:///{tmp_path / 'genq.db'}"
        upgrade_to_head(url)
    factory = make_session_factory(url)
    yield factory
    factory.kw["bind"].dispose()
