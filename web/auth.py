"""Who is asking. The API takes `Authorization: Bearer <key>`, or the session
cookie of a signed-in browser (safe methods, or unsafe ones with the CSRF token);
pages take the same header or the session. AUTOMATIC1111's API (/sdapi/v1) also
takes HTTP Basic with the key as the password, as its clients send for its
--api-auth; nothing else does. Everything but health checks, metrics,
the sign-in pages and static files needs one. Never log, echo or store a raw key.
"""

import ipaddress
import logging
import uuid
from urllib.parse import urlsplit

from flask import Flask, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from db.accounts import authenticate_key, get_live_key, newest_live_key, record_key_use
from db.models import ApiKey
from web.context import READING_METHODS, db_session, platform
from web.errors import HttpError
from web.security import csrf

log = logging.getLogger(__name__)

API_BLUEPRINT = "api"
# Answered like the API (a key, or the cookie with the CSRF token; a 401, never a
# redirect): the JSON API, its admin part and the compatible ones (web/compat).
API_BLUEPRINTS = frozenset({API_BLUEPRINT, "admin_api", "openai", "a1111"})
# Where `Authorization: Basic <any user>:<key>` stands for the Bearer key.
BASIC_AUTH_BLUEPRINTS = frozenset({"a1111"})
# Everything else needs a signed-in owner: a new blueprint is closed until listed here.
PUBLIC_BLUEPRINTS = frozenset({"health", "metrics", "signin"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_KEY_ID = "api_key_id"
# Set by signing out, so the embedded local sign-in does not undo it at once.
SESSION_SIGNED_OUT = "signed_out"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CHALLENGE = 'Bearer realm="genq"'
BASIC_CHALLENGE = 'Basic realm="genq"'
UNAUTHORIZED_MESSAGE = "a valid API key is required: send the header Authorization: Bearer <key>"


def sign_in(key: ApiKey) -> None:
    session.clear()
    session[SESSION_KEY_ID] = str(key.id)
    session.permanent = True


def sign_out() -> None:
    session.clear()
    session[SESSION_SIGNED_OUT] = True


def _header_token() -> str | None:
    """The key of an Authorization header: a Bearer token, or where Basic is taken
    its password (the user name is not read); '' when the header is there but
    carries no key."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    credentials = request.authorization
    if request.blueprint in BASIC_AUTH_BLUEPRINTS and credentials is not None and credentials.type == "basic":
        return credentials.password or ""
    return ""


def _session_key() -> ApiKey | None:
    key_id = session.get(SESSION_KEY_ID)
    if key_id is None:
        return None
    try:
        key = get_live_key(db_session(), uuid.UUID(key_id))
    except ValueError:
        key = None
    if key is None:  # revoked since, or a cookie from another database
        session.pop(SESSION_KEY_ID)
    return key


def _is_local_browser() -> bool:
    # Both the peer and the Host must be loopback: a DNS-rebinding page reaches a
    # loopback peer, but under its own host name.
    try:
        peer_is_loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    return peer_is_loopback and urlsplit(f"//{request.host}").hostname in LOOPBACK_HOSTS


def _local_signin_key() -> ApiKey | None:
    owner = platform().settings.local_signin_owner
    if owner is None or session.get(SESSION_SIGNED_OUT) or not _is_local_browser():
        return None
    key = newest_live_key(db_session(), owner)
    if key is not None:
        sign_in(key)
    return key


def _request_key(*, page: bool) -> tuple[ApiKey | None, bool]:
    """The key this request authenticates with, and whether it came by the session
    cookie. A request with an Authorization header is judged by that header alone."""
    token = _header_token()
    if token is not None:
        return (authenticate_key(db_session(), token) if token else None), False
    key = _session_key() or (_local_signin_key() if page else None)
    return key, key is not None


def _checked_api_key(key: ApiKey | None, by_cookie: bool) -> ApiKey:
    """The key of an API call, else HttpError 401 or 403 (answered in the shape of
    the API asked, web/errors.py)."""
    if key is None:
        # For operators watching for key guessing; nothing of what was sent is logged.
        log.info("refused %s %s from %s: no valid API key", request.method, request.path, request.remote_addr)
        challenge = CHALLENGE
        if request.blueprint in BASIC_AUTH_BLUEPRINTS:
            challenge += f", {BASIC_CHALLENGE}"
        raise HttpError(401, "unauthorized", UNAUTHORIZED_MESSAGE, headers={"WWW-Authenticate": challenge})
    if by_cookie and request.method not in SAFE_METHODS:
        # A cookie rides along on cross-site requests; the token proves the page is ours.
        try:
            csrf.protect()
        except CSRFError:
            raise HttpError(
                403, "csrf_failed", "a request signed in by cookie must send the page's X-CSRFToken header"
            ) from None
    return key


def _authenticate_request() -> Response | None:
    if request.endpoint is None or request.endpoint == "static":
        return None  # a 404/405 reveals nothing; static files are public
    if request.blueprint in PUBLIC_BLUEPRINTS:
        return None
    is_api = request.blueprint in API_BLUEPRINTS
    key, by_cookie = _request_key(page=not is_api)
    if is_api:
        key = _checked_api_key(key, by_cookie)
    elif key is None:
        return redirect(url_for("signin.form", next=request.full_path.rstrip("?")))
    g.api_key = key
    if record_key_use(db_session(), key) or request.method not in READING_METHODS:
        # Ends the lookup's transaction, which gives its connection back: a write
        # may wait for its turn (web/owner_turns.py) holding none. A read keeps its
        # connection (one in autocommit, web/context.py).
        db_session().commit()
    return None


def _signed_in_owner() -> dict[str, str | None]:
    key = g.get("api_key")
    return {"signed_in_owner": key.owner if key is not None else None}


def install_authentication(app: Flask) -> None:
    """Register before anything that needs the key (the rate limiter keys on it)."""
    app.before_request(_authenticate_request)
    app.context_processor(_signed_in_owner)
