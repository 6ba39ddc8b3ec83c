"""The Flask app factory: the web form, the JSON API and health checks, built
from one Settings object. The web validates, records and enqueues jobs by task
name; it never imports torch, diffusers, transformers or the worker package."""

from celery import Celery
from flask import Flask

from db.queue import celery_config
from db.session import make_session_factory
from db.settings import Settings, get_settings
from db.storage import make_storage
from web.api import api
from web.context import EXTENSION_NAME, Platform, close_db_session
from web.errors import install_error_handlers
from web.health import health
from web.pages import pages
from web.security import csrf, install_security_headers, secret_key


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.json.sort_keys = False  # keep the documented field order in responses

    celery = Celery("genq-web", set_as_current=False)
    celery.config_from_object(celery_config(settings))
    app.extensions[EXTENSION_NAME] = Platform(
        settings=settings,
        sessions=make_session_factory(settings.database_url),
        celery=celery,
        storage=make_storage(settings),
    )
    app.teardown_appcontext(close_db_session)

    csrf.init_app(app)
    csrf.exempt(api)
    install_security_headers(app, settings)
    install_error_handlers(app)

    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.register_blueprint(health)
    return app
