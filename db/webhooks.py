"""Webhooks: which job events a webhook may ask for, whether a URL may be called
(checked at submit and again before every delivery), how a body is signed, the
record of each delivery attempt, and queueing a delivery after a transition.

SSRF: https only (http too for allowlisted hosts), and every address the host
resolves to must be public: never private, loopback, link-local (cloud metadata),
multicast, reserved or unspecified, unless the host is in
GENQ_WEBHOOK_ALLOWED_HOSTS. Deliveries go to the addresses checked here.
"""

import hashlib
import hmac
import ipaddress
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from celery import Celery
from sqlalchemy.orm import Session

from db.models import Job, WebhookDelivery
from db.settings import Settings

log = logging.getLogger(__name__)

DELIVER_WEBHOOK_TASK = "genq.deliver_webhook"
WEBHOOKS_QUEUE = "webhooks"
WEBHOOK_EVENTS = ("running", "succeeded", "failed", "canceled")
DEFAULT_WEBHOOK_EVENTS = ("succeeded", "failed", "canceled")
SIGNATURE_HEADER = "Genq-Signature"
MAX_URL_LENGTH = 2000
# Named besides the address classes below, so no reading of them can let these through.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))


class WebhookUrlRefused(ValueError):
    """The URL may not be called; the message says why, for the submitter."""


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL and the addresses to connect to (the ones that were checked)."""

    scheme: str
    host: str
    port: int
    path: str  # with the query string
    addresses: tuple[str, ...]


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address in METADATA_ADDRESSES
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise WebhookUrlRefused(f"the host {host!r} does not resolve") from None
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def check_webhook_url(url: str, settings: Settings) -> WebhookTarget:
    """The URL's target if it may be called now; raises WebhookUrlRefused otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlRefused(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlRefused("is not a valid URL") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise WebhookUrlRefused("must be an absolute URL with a host")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused("must not carry credentials; verify the signature instead")
    allowed = host in {name.lower() for name in settings.webhook_allowed_hosts}
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed):
        raise WebhookUrlRefused("must use https")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not allowed:
        for address in addresses:
            if not _is_public(ipaddress.ip_address(address.split("%")[0])):
                raise WebhookUrlRefused(f"resolves to {address}, a private, loopback, link-local or reserved address")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebhookTarget(parts.scheme, host, port, path, addresses)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Genq-Signature header: `t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
    The timestamp is signed too, so a receiver can refuse old (replayed) deliveries."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def sign_now(secret: str, body: bytes) -> str:
    return signature(secret, int(time.time()), body)


def wants_event(job: Job, event: str) -> bool:
    return job.webhook_url is not None and event in (job.webhook_events or DEFAULT_WEBHOOK_EVENTS)


def announce(celery: Celery, job: Job, event: str) -> None:
    """Queue the delivery of `event` if the job's webhook asked for it. Call after
    the transition is committed. Never raises: a broker that cannot take the
    message costs this delivery (logged), not the transition."""
    if not wants_event(job, event):
        return
    try:
        celery.send_task(DELIVER_WEBHOOK_TASK, args=[str(job.id), event], queue=WEBHOOKS_QUEUE)
    except Exception:
        log.exception("the %s webhook of job %s was not queued", event, job.id)


def record_delivery(
    session: Session,
    job_id: uuid.UUID,
    *,
    event: str,
    attempt: int,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    session.add(
        WebhookDelivery(
            job_id=job_id,
            event=event,
            attempt=attempt,
            status_code=status_code,
            error=error[:500] if error else None,
            duration_ms=duration_ms,
        )
    )
