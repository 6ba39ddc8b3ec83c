"""A session on the test database (emptied for each test by the `settings` fixture)."""

import pytest

from db.session import make_session_factory


@pytest.fixture
def session(settings):
    factory = make_session_factory(settings.database_url)
    with factory() as session:
        yield session
    factory.kw["bind"].dispose()
