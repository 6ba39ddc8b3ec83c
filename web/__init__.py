"""The Flask app factory: the web form, the JSON API, the compatible APIs and
health checks, built from one Settings object. The web validates, records and
enqueues jobs by task name; it never imports torch, diffusers, transformers or the
worker package. As in Flask's tutorial, the blueprints and hooks are imported
inside create_app, so importing one web module never imports the whole app."""

from celery import Celery
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from db.job_signals import announce_events_after_commit
from db.kinds import load_kind_modules
from db.queue import celery_config
from db.session import PoolBounds, make_session_factory
from db.settings import Settings, get_settings
from db.storage import make_storage
from web.event_hub import EVENT_HUB, EventHub
from web.positions import POSITION_BOARD, PositionBoard


def create_app(settings: Settings | None = None) -> Flask:
    from web.address_limits import install_address_limits
    from web.api import api_blueprint
    from web.api.admin import admin_api
    from web.api.datasets import install_upload_limit
    from web.api.errors import api_error_body
    from web.api.events import STREAM_SLOTS
    from web.auth import install_authentication
    from web.compat.a1111 import a1111_blueprint
    from web.compat.errors import a1111_error_body, openai_error_body
    from web.compat.jobs import WAIT_SLOTS
    from web.compat.openai import openai_blueprint
    from web.context import EXTENSION_NAME, Platform, close_db_session
    from web.errors import install_error_handlers
    from web.health import health
    from web.metrics import REGISTRY_EXTENSION, WebMetrics, metrics
    from web.pages import pages_blueprint
    from web.rate_limits import install_rate_limits
    from web.security import SessionOverHttpsIsSecure, csrf, install_security_headers, secret_key
    from web.signin import signin
    from web.slots import Slots

    settings = settings or get_settings()
    load_kind_modules(settings.kind_modules)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
    )
    app.session_interface = SessionOverHttpsIsSecure()
    sessions = make_session_factory(
        settings.database_url, PoolBounds(settings.web_db_pool_size, settings.web_db_pool_timeout_seconds)
    )
    web_metrics = WebMetrics(sessions)
    web_metrics.install(app)  # first: times every request, also those a later hook turns away
    install_upload_limit(app, settings)  # first: before any hook reads a body
    install_address_limits(app, settings)  # before the CSRF check and the key's lookup
    assert isinstance(app.json, DefaultJSONProvider)
    app.json.sort_keys = False  # keep the documented field order in responses

    celery = Celery("genq-web", set_as_current=False)
    celery.config_from_object(celery_config(settings))
    announce_events_after_commit(sessions, settings.broker_url)  # a cancel's events, for the streams
    app.extensions[EXTENSION_NAME] = Platform(
        settings=settings,
        sessions=sessions,
        celery=celery,
        storage=make_storage(settings),
    )
    app.extensions[REGISTRY_EXTENSION] = web_metrics
    app.extensions[STREAM_SLOTS] = Slots(settings.max_event_streams, web_metrics.open_streams)
    app.extensions[EVENT_HUB] = EventHub(settings)
    app.extensions[POSITION_BOARD] = PositionBoard(sessions)
    app.extensions[WAIT_SLOTS] = Slots(settings.max_compat_waits, web_metrics.compat_waits)
    app.teardown_appcontext(close_db_session)

    api = api_blueprint()
    compat_blueprints = (openai_blueprint(), a1111_blueprint())
    csrf.init_app(app)
    csrf.exempt(api)  # web.auth demands the token where the API is used with a cookie
    csrf.exempt(admin_api)
    for blueprint in compat_blueprints:
        csrf.exempt(blueprint)  # the same for the compatible APIs
    install_security_headers(app, settings)
    # Every failure under an API's prefix, whatever raised it, in that API's shape.
    install_error_handlers(
        app,
        {
            "/api": api_error_body,  # /api/v1, and any other path under /api
            "/v1": openai_error_body,
            "/sdapi": a1111_error_body,
        },
    )
    install_authentication(app)
    install_rate_limits(app, settings)

    app.register_blueprint(signin)
    app.register_blueprint(pages_blueprint())
    app.register_blueprint(api)
    app.register_blueprint(admin_api)
    for blueprint in compat_blueprints:
        app.register_blueprint(blueprint)
    app.register_blueprint(health)
    app.register_blueprint(metrics)
    return app
