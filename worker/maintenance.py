"""Each worker process's periodic upkeep, in a thread of its own: report itself
alive with the kinds it takes (db.queue_admin, for GET /api/v1/admin/queues),
put back the jobs whose lease ran out (the reaper), send the wake-ups owed to
queued jobs (the reconciler, db.outbox) and sweep what retention no longer keeps
(db.retention, one process at a time by its lock). Every change it makes is
conditional, so any number of workers doing it at once is harmless. It never
runs a job.
"""

import logging
import threading
import time

from celery import Celery

from db.jobs import recover_expired_leases
from db.kinds import job_kinds, kinds_on_queue
from db.outbox import resend_owed_wake_ups
from db.queue_admin import record_worker_seen
from db.retention import sweep_expired
from db.settings import Settings
from db.storage import make_storage
from worker.resources import process_session_factory, worker_id

log = logging.getLogger(__name__)


class Maintenance:
    def __init__(self, settings: Settings, celery: Celery) -> None:
        self.settings = settings
        self.celery = celery
        self.sessions = process_session_factory(settings)
        self.storage = make_storage(settings)
        self.time_limits = {kind: settings.time_limit_for(kind) for kind in job_kinds()}
        # The queues this worker consumes (its --queues), known in the child after the fork.
        consumed = celery.amqp.queues.consume_from
        self.kinds = [kind for queue in consumed for kind in kinds_on_queue(queue)]

    def run_once(self) -> None:
        with self.sessions.begin() as session:
            record_worker_seen(session, worker_id(), self.kinds)
        with self.sessions.begin() as session:
            requeued = recover_expired_leases(session, time_limits=self.time_limits)
        if requeued:
            log.warning(
                "put back %d job(s) whose worker stopped renewing its lease: %s",
                len(requeued),
                ", ".join(map(str, requeued)),
            )
        resend_owed_wake_ups(self.sessions, self.celery, resend_after_seconds=self.settings.resend_after_seconds)
        swept = sweep_expired(self.sessions, self.storage, self.settings)
        if swept:
            log.info("retention swept %s", swept)

    def start(self) -> None:
        threading.Thread(target=self._loop, name="genq-maintenance", daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                # The database or the broker is away; the next round tries again.
                log.warning("maintenance round failed", exc_info=True)
            time.sleep(self.settings.maintenance_interval_seconds)
