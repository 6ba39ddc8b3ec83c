"""The compatible APIs against the production shape: a real gunicorn web and a
real Celery worker of this package's own, the real `openai` SDK, and A1111-style
JSON over HTTP. The pair uses a Redis db of its own and stops when this package's
tests end, so it never takes jobs of the tests that run after them."""

from collections.abc import Iterator

import pytest
from openai import OpenAI

from db.accounts import create_api_key
from db.session import make_session_factory
from db.settings import Settings
from tests.api.conftest import authenticated_client, close_app
from tests.support.http import ApiUrl
from tests.support.processes import running_web, running_worker
from tests.support.services import flush_redis, redis_database
from web import create_app

TEXT_MODEL = "tiny-text"
IMAGE_MODEL = "tiny-sd"


@pytest.fixture(scope="package")
def compat_settings(platform_settings) -> Iterator[Settings]:
    # Its own broker db: this package's worker stops with the package, so it never
    # takes (or reconciles) the jobs of the tests that run after it.
    with redis_database() as broker_url:
        yield platform_settings.model_copy(update={"broker_url": broker_url})


@pytest.fixture(scope="package")
def compat_web_url(compat_settings, tmp_path_factory) -> Iterator[str]:
    with running_web(compat_settings, tmp_path_factory.mktemp("compat-web") / "web.log") as url:
        yield url


@pytest.fixture(scope="package")
def compat_worker(compat_settings, tmp_path_factory):
    with running_worker(compat_settings, tmp_path_factory.mktemp("compat-worker") / "worker.log") as process:
        yield process


def make_key(settings: Settings, owner: str) -> str:
    sessions = make_session_factory(settings.database_url)
    with sessions() as session:
        _key, raw_key = create_api_key(session, owner=owner)
        session.commit()
    sessions.kw["bind"].dispose()
    return raw_key


@pytest.fixture
def platform(settings, compat_settings, compat_web_url, compat_worker) -> ApiUrl:
    """A clean running genq (web + worker), carrying a key of owner `compat`."""
    flush_redis(compat_settings.broker_url)
    return ApiUrl(compat_web_url, make_key(settings, "compat"))


@pytest.fixture
def other_key(platform, settings) -> str:
    """A live key of a second owner, `other`."""
    return make_key(settings, "other")


@pytest.fixture
def openai_client(platform) -> OpenAI:
    # No retries: a retried compat call would be another job.
    return OpenAI(base_url=f"{platform}/v1", api_key=platform.key, max_retries=0, timeout=120)


@pytest.fixture
def in_process_client(settings) -> Iterator:
    """An in-process app (no worker) and a key of owner `compat`, for what needs no run."""
    app = create_app(settings)
    yield authenticated_client(app, make_key(settings, "compat"))
    close_app(app)
