"""Liveness and readiness for orchestrators: /healthz says the process answers,
/readyz that the database, the broker and storage do. Neither needs a login,
so neither reveals more than which dependency is down (details go to the log)."""

import logging
from collections.abc import Callable

from flask import Blueprint
from sqlalchemy import text

from web.context import platform

logger = logging.getLogger(__name__)

health = Blueprint("health", __name__)

# Long enough for a healthy broker across a network, short enough for a probe.
BROKER_TIMEOUT_SECONDS = 2


@health.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_database() -> None:
    with platform().engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check_broker() -> None:
    with platform().celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)


def _check_storage() -> None:
    platform().storage.check()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "broker": _check_broker,
    "storage": _check_storage,
}


@health.get("/readyz")
def readyz() -> tuple[dict, int]:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception:
            logger.exception("readiness check %s failed", name)
            results[name] = "unavailable"
    ready = all(result == "ok" for result in results.values())
    return {"status": "ready" if ready else "unavailable", "checks": results}, 200 if ready else 503
