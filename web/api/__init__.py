"""The JSON API, version 1, under /api/v1. Exempt from CSRF tokens: it accepts
only application/json bodies, which a cross-site form cannot send without CORS."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")

# Importing the view modules registers their routes on the blueprint.
from web.api import jobs, models  # noqa: E402, F401
