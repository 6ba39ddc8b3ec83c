"""The worker's Celery app: built from settings, configured as the queue contract says."""

import subprocess
import sys

from db.queue import GENERATE_QUEUE, RUN_JOB_TASK
from db.settings import Settings
from worker.celery_app import create_celery, soft_time_limit


def test_app_follows_the_queue_contract():
    settings = Settings(_env_file=None, broker_url="redis://127.0.0.1:6379/13", task_time_limit_seconds=600)
    app = create_celery(settings)
    try:
        conf = app.conf
        assert conf.task_serializer == "json" and conf.accept_content == ["json"]
        assert conf.task_acks_late and conf.task_reject_on_worker_lost
        assert conf.worker_prefetch_multiplier == 1
        assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit == 600
        assert conf.task_soft_time_limit == soft_time_limit(600) < 600
        assert [queue.name for queue in conf.task_queues] == [GENERATE_QUEUE]
        assert conf.genq_settings is settings

        import worker.tasks  # noqa: F401  (what the worker's include loads)

        assert RUN_JOB_TASK in app.tasks
    finally:
        app.close()


def test_soft_limit_leaves_time_to_record_the_failure():
    assert soft_time_limit(3600) == 3540
    assert soft_time_limit(10) == 9


def test_importing_the_celery_app_does_not_import_torch():
    # Building the app must stay cheap; the worker imports the tasks (and torch) itself.
    check = "import sys, worker.celery_app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", check], check=True)
