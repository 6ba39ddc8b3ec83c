"""The worker accepts JSON messages only: a pickled message, which could run code
as it is decoded, is refused before decoding."""

import pickle

import pytest
from kombu.exceptions import ContentDisallowed
from kombu.serialization import loads, prepare_accept_content

from db.settings import Settings
from worker.celery_app import create_celery


@pytest.fixture
def worker_app():
    app = create_celery(Settings(_env_file=None, broker_url="redis://127.0.0.1:6379/13"))
    yield app
    app.close()


def test_a_pickled_message_is_refused(worker_app):
    body = pickle.dumps((["a-job-id"], {}, {}))
    with pytest.raises(ContentDisallowed):
        loads(
            body,
            "application/x-python-serialize",
            "binary",
            accept=prepare_accept_content(worker_app.conf.accept_content),
        )


def test_a_json_message_is_accepted(worker_app):
    body = '[["a-job-id"], {}, {}]'
    assert loads(body, "application/json", "utf-8", accept=prepare_accept_content(worker_app.conf.accept_content))[
        0
    ] == ["a-job-id"]
