"""Webhook deliveries: the task `genq.deliver_webhook` (queue `webhooks`) POSTs a
job's JSON to its webhook_url, signed with the owner's secret, records every
attempt, and retries failures with exponential backoff.

Never called from a web request. Never follows a redirect, and connects only to
the addresses db.webhooks.check_webhook_url approved a moment before (so a DNS
answer cannot change between the check and the connection).
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass

import certifi
import urllib3
from celery import Task, shared_task

from db.accounts import ensure_owner
from db.job_json import artifact_url_from, job_json
from db.jobs import get_job
from db.webhooks import (
    DELIVER_WEBHOOK_TASK,
    SIGNATURE_HEADER,
    WebhookTarget,
    WebhookUrlRefused,
    check_webhook_url,
    record_delivery,
    sign_now,
)
from worker.resources import WorkerResources

log = logging.getLogger(__name__)

# Worth another try: the receiver or the network had a bad moment.
RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None
    retry: bool


def post(target: WebhookTarget, body: bytes, headers: dict[str, str], timeout_seconds: float) -> int:
    """POST to the first of the target's checked addresses that accepts a
    connection; the status code. TLS is verified against the URL's host name."""
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds)
    last_error: Exception | None = None
    for address in target.addresses:
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                target.port,
                timeout=timeout,
                retries=False,
                maxsize=1,
                server_hostname=target.host,
                assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
                ca_certs=certifi.where(),
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "Host": host_header},
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            response.close()  # the status is all that is kept; the body is not read
            return response.status
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as error:
            last_error = error  # try the host's next address
        finally:
            pool.close()
    assert last_error is not None
    raise last_error


class WebhookSender(WorkerResources):
    """Delivers with the process's database sessions and storage (for the artifact
    URLs in the body)."""

    def deliver(self, job_id: uuid.UUID, event: str, attempt: int) -> Attempt:
        with self.session_factory.begin() as session:
            job = get_job(session, job_id, owner=None)
            if job is None or job.webhook_url is None:
                return Attempt(None, "the job or its webhook is gone", retry=False)
            secret = ensure_owner(session, job.owner).webhook_secret
            body = json.dumps(job_json(session, job, artifact_url_from(self.storage))).encode()
            url = job.webhook_url
        started = time.monotonic()
        outcome = self._attempt(url, body, event, secret, job_id)
        with self.session_factory.begin() as session:
            record_delivery(
                session,
                job_id,
                event=event,
                attempt=attempt,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=round((time.monotonic() - started) * 1000),
            )
        return outcome

    def _attempt(self, url: str, body: bytes, event: str, secret: str, job_id: uuid.UUID) -> Attempt:
        try:
            # Checked again now: the host may resolve elsewhere than at submit time.
            target = check_webhook_url(url, self.settings)
        except WebhookUrlRefused as refused:
            return Attempt(None, f"refused: the URL {refused}", retry=False)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "genq-webhooks/1",
            "Genq-Event": event,
            # The same for every attempt of one event, so a receiver can drop repeats.
            "Genq-Delivery": f"{job_id}.{event}",
            SIGNATURE_HEADER: sign_now(secret, body),
        }
        try:
            status = post(target, body, headers, self.settings.webhook_timeout_seconds)
        except urllib3.exceptions.HTTPError as error:
            return Attempt(None, f"{type(error).__name__}: {error}", retry=True)
        if 200 <= status < 300:
            return Attempt(status, None, retry=False)
        return Attempt(status, f"the receiver answered {status}", retry=status in RETRY_STATUSES)


class WebhookTask(Task):
    _sender: WebhookSender | None = None

    @property
    def sender(self) -> WebhookSender:
        if self._sender is None:
            self._sender = WebhookSender(self.app.conf.genq_settings)
        return self._sender


# Its own short limits: a delivery is two short HTTP timeouts, not a GPU job.
@shared_task(
    base=WebhookTask, bind=True, name=DELIVER_WEBHOOK_TASK, max_retries=None, time_limit=120, soft_time_limit=100
)
def deliver_webhook(self: WebhookTask, job_id: str, event: str) -> int | None:
    settings = self.sender.settings
    attempt = self.request.retries + 1
    outcome = self.sender.deliver(uuid.UUID(job_id), event, attempt)
    if outcome.retry and self.request.retries < settings.webhook_max_retries:
        delay = settings.webhook_retry_base_seconds * 2**self.request.retries
        log.info(
            "webhook %s of job %s failed (%s); attempt %d in %.1f s", event, job_id, outcome.error, attempt + 1, delay
        )
        raise self.retry(countdown=delay)
    if outcome.error:
        log.warning("webhook %s of job %s failed for good after %d attempts: %s", event, job_id, attempt, outcome.error)
    return outcome.status_code
