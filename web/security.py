"""Browser-facing protections: the secret key behind sessions and CSRF tokens,
and the headers every response carries (a CSP that allows no inline script).
Never loosen the CSP to make a page work; move the script to web/static/."""

import logging
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from db.settings import Settings

logger = logging.getLogger(__name__)

csrf = CSRFProtect()


class SessionOverHttpsIsSecure(SecureCookieSessionInterface):
    """Flask's signed-cookie session, marked Secure whenever the request came over
    https, not only when SESSION_COOKIE_SECURE says so."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    logger.warning(
        "GENQ_SECRET_KEY is not set: using a random key for this process, so sessions "
        "and form tokens break on restart and across gunicorn workers"
    )
    return secrets.token_urlsafe(32)


def content_security_policy(settings: Settings) -> str:
    # Images and audio may come from the S3 endpoint as presigned URLs; with AWS
    # itself the bucket's host is not known here, so any https origin is allowed.
    storage_origins = []
    if settings.storage_url.startswith("s3://"):
        if settings.s3_endpoint_url:
            endpoint = urlsplit(settings.s3_endpoint_url)
            storage_origins.append(f"{endpoint.scheme}://{endpoint.netloc}")
        else:
            storage_origins.append("https:")
    image_sources = ["'self'", "data:", *storage_origins]
    media_sources = ["'self'", *storage_origins]
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src {' '.join(image_sources)}",
            f"media-src {' '.join(media_sources)}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def install_security_headers(app: Flask, settings: Settings) -> None:
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        # same-origin, not no-referrer: Flask-WTF checks the Referer of HTTPS form posts.
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }

    @app.after_request
    def _add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
