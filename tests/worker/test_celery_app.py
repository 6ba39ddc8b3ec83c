"""The worker's Celery app and the messages the web sends: configured as the queue
contract says (JSON only, acks late, rejected when the worker is lost, prefetch 1,
time limits per kind inside the broker's visibility timeout)."""

import base64
import json
import re
import subprocess
import sys

import redis
from celery import Celery

from db.kinds.generate import GENERATE_QUEUE
from db.queue import RUN_JOB_TASK, celery_config, send_job, soft_time_limit
from db.settings import Settings
from db.webhooks import WEBHOOKS_QUEUE
from tests.support.processes import running_worker
from tests.support.services import redis_database
from tests.support.waiting import wait_for
from worker.celery_app import create_celery, create_webhooks_celery


def test_app_follows_the_queue_contract():
    settings = Settings(_env_file=None, broker_url="redis://127.0.0.1:6379/13", task_time_limit_seconds=600)
    app = create_celery(settings)
    try:
        conf = app.conf
        assert conf.task_serializer == "json" and conf.result_serializer == "json"
        assert conf.accept_content == ["json"]
        assert conf.task_acks_late and conf.task_reject_on_worker_lost
        assert conf.worker_prefetch_multiplier == 1
        assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit == 600
        assert conf.task_soft_time_limit == soft_time_limit(600) < 600
        assert GENERATE_QUEUE in [queue.name for queue in conf.task_queues]
        assert WEBHOOKS_QUEUE not in [queue.name for queue in conf.task_queues]  # genq webhooks' alone
        assert conf.genq_settings is settings

        import worker.tasks  # noqa: F401  (what the worker's include loads)

        assert RUN_JOB_TASK in app.tasks
    finally:
        app.close()


def test_webhook_deliveries_have_an_app_of_their_own_on_their_queue_alone():
    app = create_webhooks_celery(Settings(_env_file=None, broker_url="redis://127.0.0.1:6379/13"))
    try:
        assert [queue.name for queue in app.conf.task_queues] == [WEBHOOKS_QUEUE]
        assert app.conf.task_acks_late and app.conf.accept_content == ["json"]
        assert app.conf.include == ["worker.webhooks"]  # no worker.tasks, so no executors and no torch
    finally:
        app.close()


def test_the_visibility_timeout_outlasts_the_longest_time_limit_of_any_kind():
    settings = Settings(_env_file=None, task_time_limit_seconds=600, kind_time_limit_seconds={"generate": 7200})

    assert settings.time_limit_for("generate") == 7200
    assert settings.time_limit_for("finetune") == 600
    assert settings.broker_visibility_timeout > 7200


def test_each_message_carries_the_time_limits_of_its_queue(settings):
    # A Redis db of its own: a session-wide worker from the e2e tests may be
    # listening on the shared one and would take the message first.
    with redis_database() as broker_url:
        limited = settings.model_copy(update={"kind_time_limit_seconds": {"generate": 120}, "broker_url": broker_url})
        web_celery = Celery(set_as_current=False)
        web_celery.config_from_object(celery_config(limited))
        try:
            send_job(web_celery, "4a789cc3-78a0-4806-9298-904bbf948163", GENERATE_QUEUE)
        finally:
            web_celery.close()
        [raw] = redis.Redis.from_url(broker_url).lrange(GENERATE_QUEUE, 0, -1)
    message = json.loads(raw)
    assert message["content-type"] == "application/json"
    assert message["headers"]["task"] == RUN_JOB_TASK
    assert message["headers"]["timelimit"] == [120, soft_time_limit(120)]  # [hard, soft]
    args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert (args, kwargs) == (["4a789cc3-78a0-4806-9298-904bbf948163"], {})


def test_soft_limit_leaves_time_to_record_the_failure():
    assert soft_time_limit(3600) == 3540
    assert soft_time_limit(10) == 9
    assert soft_time_limit(2) == 1


def test_importing_the_celery_app_does_not_import_torch():
    # Building the app must stay cheap; the worker imports the tasks (and torch) itself.
    check = "import sys, worker.celery_app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", check], check=True)


def test_a_worker_child_warms_up_its_models_when_it_starts(settings, tmp_path):
    # Celery hands a child no task before its worker_process_init handlers, the warm-up among them, returned.
    log_path = tmp_path / "worker.log"
    warmed = re.compile(r"ForkPoolWorker-1 worker\.pipelines: warmed up tiny-sd at 64x64")
    with redis_database() as broker_url:
        warm = settings.model_copy(update={"broker_url": broker_url, "warm_models": ["tiny-sd"]})
        with running_worker(warm, log_path, queues=GENERATE_QUEUE):
            wait_for(lambda: warmed.search(log_path.read_text()), timeout=120, what="the warm-up")
    assert "loaded pipeline tiny-sd" in log_path.read_text()
