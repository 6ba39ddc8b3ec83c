"""A session on the test database (emptied for each test by the `settings` fixture),
and session factories on Postgres and SQLite for what must work on both."""

import threading
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job
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


def assert_claimed_once_each(
    sessions: sessionmaker[Session], all_ids: set[uuid.UUID], claim: Callable[[str], list[uuid.UUID]], claimers: int = 6
) -> None:
    """`claimers` threads, started together, each call claim(worker_id) until it
    returns nothing; every job must have been claimed by exactly one of them, once."""
    claimed: list[list[uuid.UUID]] = [[] for _ in range(claimers)]
    start = threading.Barrier(claimers)

    def claimer(index: int) -> None:
        start.wait()
        while batch := claim(f"w{index}"):
            claimed[index].extend(batch)

    threads = [threading.Thread(target=claimer, args=(index,)) for index in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    every_claim = [job_id for mine in claimed for job_id in mine]
    assert len(every_claim) == len(set(every_claim)) == len(all_ids)
    assert set(every_claim) == all_ids
    with sessions() as session:
        assert set(session.scalars(select(Job.attempt))) == {1}
