"""Requests without a valid key, per client address: each one that ends
unauthenticated (an API's 401, a page sent to sign in, a refused sign-in) counts
against its address, and an address over GENQ_UNAUTHENTICATED_REQUESTS_PER_MINUTE
gets 429 with Retry-After before any key is checked, for the rest of its window,
whatever it sends (a valid key would tell a guesser it guessed right). Counted in
the broker's Redis, shared by every web process; if Redis cannot be reached the
limit is skipped and logged, as the per-key limit is (web/rate_limits.py).

The address is the peer's; behind proxies listed in GENQ_TRUSTED_PROXIES, the
nearest address in X-Forwarded-For that is not one of them. Anyone can send that
header: it is never read from a peer that is not a trusted proxy.
"""

import ipaddress
import logging
import math
import time

from flask import Flask, Response, g, request
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from db.settings import Settings
from web.auth import PUBLIC_BLUEPRINTS
from web.errors import HttpError
from web.rate_limits import limits_storage_uri

logger = logging.getLogger(__name__)

NAMESPACE = "genq-address"
SIGNIN_ENDPOINT = "signin.submit"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(peer: str, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The address a request came from: X-Forwarded-For read from the right, past
    the trusted proxies, only when the peer itself is one."""
    if not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: list[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def _needs_a_key() -> bool:
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":
        return False  # a 404 costs nothing and reveals nothing; static files are public
    return endpoint == SIGNIN_ENDPOINT or request.blueprint not in PUBLIC_BLUEPRINTS


def _ended_unauthenticated(response: Response) -> bool:
    if request.endpoint == SIGNIN_ENDPOINT:
        return response.status_code >= 400  # the key was refused
    return _needs_a_key() and g.get("api_key") is None


def install_address_limits(app: Flask, settings: Settings) -> None:
    """Call before web.auth.install_authentication: a refused address is answered
    before its key is looked up."""
    per_minute = RateLimitItemPerMinute(settings.unauthenticated_requests_per_minute)
    limiter = FixedWindowRateLimiter(storage_from_string(limits_storage_uri(settings.broker_url)))
    trusted = [ipaddress.ip_network(network, strict=False) for network in settings.trusted_proxies]

    def address() -> str:
        return client_address(request.remote_addr or "", request.headers.get("X-Forwarded-For"), trusted)

    @app.before_request
    def _refuse_an_address_over_its_budget() -> None:
        if not _needs_a_key():
            return
        client = address()
        try:
            if limiter.test(per_minute, NAMESPACE, client):
                return
            reset_at = limiter.get_window_stats(per_minute, NAMESPACE, client).reset_time
        except Exception:
            logger.exception("the per-address limit was skipped: the limits storage did not answer")
            return
        wait = max(1, min(math.ceil(reset_at - time.time()), per_minute.get_expiry()))
        raise HttpError(
            429,
            "too_many_unauthenticated_requests",
            f"this address made {per_minute.amount} requests without a valid key in a minute;"
            " retry after Retry-After seconds",
            headers={"Retry-After": str(wait)},
        )

    @app.after_request
    def _count_an_unauthenticated_request(response: Response) -> Response:
        # A 5xx is the server's failure (e.g. the key could not be looked up), not the client's.
        if response.status_code != 429 and response.status_code < 500 and _ended_unauthenticated(response):
            try:
                limiter.hit(per_minute, NAMESPACE, address())
            except Exception:
                logger.exception("an unauthenticated request was not counted: the limits storage did not answer")
        return response
