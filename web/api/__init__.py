"""The JSON API, version 1, under /api/v1. Every route needs a key (web.auth);
Flask-WTF's form check is off here, because a caller with a key needs no CSRF
token, and web.auth demands one from callers signed in by cookie."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")


def api_blueprint() -> Blueprint:
    """The blueprint with every route on it: each view module adds its own when
    imported, here rather than above, so that importing one web module never
    imports the whole API."""
    from web.api import adapters, datasets, events, jobs, loss, models, openapi, uploads, webhooks  # noqa: F401

    return api
