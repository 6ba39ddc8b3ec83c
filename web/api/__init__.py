"""The JSON API, version 1, under /api/v1. Every route needs a key (web.auth);
Flask-WTF's form check is off here, because a caller with a key needs no CSRF
token, and web.auth demands one from callers signed in by cookie."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")

# Importing the view modules registers their routes on the blueprint.
from web.api import adapters, datasets, events, jobs, loss, models, openapi, webhooks  # noqa: E402, F401
