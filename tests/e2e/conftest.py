"""The production shape, with real processes: `genq web` (gunicorn), `genq worker`
and `genq webhooks` (Celery) against Postgres, Redis and moto's S3 server."""

import pytest
from playwright.sync_api import sync_playwright

from db.accounts import create_api_key
from db.session import make_session_factory
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.http import ApiUrl
from tests.support.processes import running_web, running_webhooks, running_worker


@pytest.fixture(scope="session")
def worker_log(tmp_path_factory):
    return tmp_path_factory.mktemp("worker") / "worker.log"


@pytest.fixture(scope="session")
def worker(platform_settings, worker_log):
    # The worker outlives the e2e tests, and tests after them share its database:
    # its maintenance (reaping expired leases, sending owed wake-ups) must not act
    # on their jobs, so it runs once at start only. tests/faults test maintenance.
    settings = platform_settings.model_copy(update={"maintenance_interval_seconds": 24 * 3600})
    with running_worker(settings, worker_log) as process:
        yield process


@pytest.fixture(scope="session")
def webhook_sender(platform_settings, tmp_path_factory):
    with running_webhooks(platform_settings, tmp_path_factory.mktemp("webhooks") / "webhooks.log") as process:
        yield process


@pytest.fixture(scope="session")
def web_url(platform_settings, tmp_path_factory):
    with running_web(platform_settings, tmp_path_factory.mktemp("web") / "web.log") as url:
        yield url


@pytest.fixture
def api_key(settings) -> str:
    """A live key of owner `e2e`, made in the platform's (freshly emptied) database."""
    sessions = make_session_factory(settings.database_url)
    with sessions() as session:
        _key, raw_key = create_api_key(session, owner="e2e")
        session.commit()
    sessions.kw["bind"].dispose()
    return raw_key


@pytest.fixture
def platform(settings, web_url, worker, webhook_sender, api_key) -> ApiUrl:
    """A clean running platform (web, worker, webhook sender): the web's base URL, carrying `api_key`."""
    return ApiUrl(web_url, api_key)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
