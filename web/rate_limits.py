"""Requests per minute per API key on /api/v1 and the compatible APIs (Flask-Limiter,
counted in the broker's Redis so every web process shares the count). Runs after web.auth, so
the count is a key's, never an IP's; a 401 costs no quota. If Redis cannot be
reached the limit is skipped and the failure logged: a broker outage must not
turn into an API outage. Never key a limit on anything a client can choose.
"""

import logging
import math
import time

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded

from db.settings import Settings
from web.auth import API_BLUEPRINTS
from web.context import current_api_key, platform
from web.errors import HttpError, error_response

logger = logging.getLogger(__name__)

KEY_PREFIX = "genq-rate"


def limits_storage_uri(broker_url: str | None) -> str:
    """The limits library's URL for the broker's Redis (kombu's unix-socket scheme differs)."""
    if broker_url is None:
        return "memory://"
    return broker_url.replace("redis+socket://", "redis+unix://", 1)


def _key_prefix() -> str:
    return current_api_key().prefix


def _requests_per_minute() -> str:
    # Flask-Limiter resolves the limit before it asks whether the request is exempt,
    # so this runs for pages and sign-in too, where no key is in use.
    key = g.get("api_key")
    per_minute = (key.requests_per_minute if key is not None else None) or platform().settings.requests_per_minute
    return f"{per_minute}/minute"


def _not_an_authenticated_api_call() -> bool:
    return request.blueprint not in API_BLUEPRINTS or g.get("api_key") is None


def _rate_limited(error: RateLimitExceeded) -> Response:
    # Retry-After is added with the other limit headers, below.
    message = f"this key may make {error.limit.limit.amount} requests per minute; retry after Retry-After seconds"
    return error_response(HttpError(429, "rate_limit_exceeded", message))


def install_rate_limits(app: Flask, settings: Settings) -> None:
    """Call after web.auth.install_authentication: the limit is keyed on the authenticated key."""
    limiter = Limiter(
        key_func=_key_prefix,
        # Application limits count every route together (default limits count per route).
        application_limits=[_requests_per_minute],
        application_limits_exempt_when=_not_an_authenticated_api_call,
        storage_uri=limits_storage_uri(settings.broker_url),
        strategy="fixed-window",
        key_prefix=KEY_PREFIX,
        # Written below instead: Flask-Limiter would put its own Retry-After on
        # every response, overwriting the one of a 503.
        headers_enabled=False,
        swallow_errors=True,
    )
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _rate_limited)

    @app.after_request
    def _add_rate_limit_headers(response: Response) -> Response:
        limit = limiter.current_limit
        if limit is None:
            return response
        try:
            reset_at = limit.reset_at
            response.headers["X-RateLimit-Limit"] = str(limit.limit.amount)
            response.headers["X-RateLimit-Remaining"] = str(limit.remaining)
            response.headers["X-RateLimit-Reset"] = str(reset_at)
            if limit.breached:
                # reset_at is rounded up to a whole second; never say more than one window.
                wait = min(math.ceil(reset_at - time.time()), limit.limit.get_expiry())
                response.headers["Retry-After"] = str(max(1, wait))
        except Exception:
            logger.exception("rate limit headers left out: the limits storage did not answer")
        return response
